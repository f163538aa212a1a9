// The bulk provisioning device list: an RFC 4180 CSV reader and the header/row checks over it.
#include "ironroot/fleet/device_list.hpp"

#include <algorithm>

namespace ironroot::fleet {

namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// Reads records one at a time; `pos` and `line` always point at the start of what is left.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {
    if (text_.substr(0, kByteOrderMark.size()) == kByteOrderMark) pos_ = kByteOrderMark.size();
  }

  bool done() const { return pos_ >= text_.size(); }

  // The next record, or nullopt for a blank line (consumed).
  std::optional<CsvRecord> next() {
    CsvRecord record;
    record.line = line_;
    if (at_line_end()) {
      skip_line_end();
      return std::nullopt;
    }
    for (;;) {
      std::string field;
      std::string error = at('"') ? quoted(field) : unquoted(field);
      if (error.empty() && record.fields.size() == kMaxCsvFields) {
        error = "more than " + std::to_string(kMaxCsvFields) + " fields";
      }
      if (!error.empty()) {
        record.fields.clear();
        record.error = std::move(error);
        while (!done() && !at_line_end()) ++pos_;
        break;
      }
      record.fields.push_back(std::move(field));
      if (!at(',')) break;
      ++pos_;
    }
    if (!done()) skip_line_end();
    return record;
  }

 private:
  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool at_line_end() const { return at('\n') || at('\r'); }

  // Consumes one CRLF, LF or CR.
  void skip_line_end() {
    if (at('\r') && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
  }

  static std::string too_long() {
    return "a field is longer than " + std::to_string(kMaxCsvFieldBytes) + " bytes";
  }

  std::string unquoted(std::string& field) {
    while (!done() && !at(',') && !at_line_end()) {
      if (at('"')) return "a field that holds '\"' must be enclosed in '\"' (and the '\"' doubled)";
      if (field.size() == kMaxCsvFieldBytes) return too_long();
      field += text_[pos_++];
    }
    return {};
  }

  std::string quoted(std::string& field) {
    ++pos_;  // the opening quote
    for (;;) {
      if (done()) return "a quoted field is not closed (a '\"' is missing)";
      if (at('"')) {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          pos_ += 2;
          if (field.size() == kMaxCsvFieldBytes) return too_long();
          field += '"';
          continue;
        }
        ++pos_;  // the closing quote
        break;
      }
      if (field.size() == kMaxCsvFieldBytes) return too_long();
      // A line break inside the field is part of it; the line count follows it.
      if (at('\n') || (at('\r') && !(pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n'))) {
        ++line_;
      }
      field += text_[pos_++];
    }
    if (!done() && !at(',') && !at_line_end()) {
      return "a closing '\"' must be followed by ',' or the end of the line (write a '\"' inside "
             "a quoted field as '\"\"')";
    }
    return {};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

}  // namespace

std::vector<CsvRecord> parse_csv(std::string_view text) {
  std::vector<CsvRecord> records;
  CsvReader reader(text);
  while (!reader.done()) {
    if (auto record = reader.next()) records.push_back(std::move(*record));
  }
  return records;
}

Result<DeviceList> parse_device_list(std::string_view text) {
  std::vector<CsvRecord> records = parse_csv(text);
  if (records.empty()) {
    return fail(
        "the device list is empty: its first line must name the columns (template "
        "parameters, and csr for CSR files)");
  }
  const CsvRecord& header = records.front();
  const std::string where = "line " + std::to_string(header.line) + " (the header): ";
  if (!header.error.empty()) return fail(where + header.error);
  DeviceList list;
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    const std::string& name = header.fields[i];
    if (name.empty()) return fail(where + "column " + std::to_string(i + 1) + " has no name");
    if (std::find(list.columns.begin(), list.columns.end(), name) != list.columns.end()) {
      return fail(where + "column '" + name + "' appears twice");
    }
    list.columns.push_back(name);
  }
  for (std::size_t r = 1; r < records.size(); ++r) {
    CsvRecord& record = records[r];
    DeviceRow row;
    row.line = record.line;
    if (!record.error.empty()) {
      row.error = std::move(record.error);
    } else if (record.fields.size() != list.columns.size()) {
      row.error = "has " + std::to_string(record.fields.size()) + " field" +
                  (record.fields.size() == 1 ? "" : "s") + ", the header names " +
                  std::to_string(list.columns.size()) + " column" +
                  (list.columns.size() == 1 ? "" : "s");
    } else {
      for (std::size_t i = 0; i < record.fields.size(); ++i) {
        std::string& value = record.fields[i];
        if (value.empty()) continue;
        if (list.columns[i] == kCsrColumn) {
          row.csr_path = std::move(value);
        } else {
          row.parameters[list.columns[i]] = std::move(value);
        }
      }
    }
    list.rows.push_back(std::move(row));
  }
  return list;
}

}  // namespace ironroot::fleet
