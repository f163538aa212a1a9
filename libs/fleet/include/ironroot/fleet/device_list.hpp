// The device list of operator bulk provisioning (`ironroot provision bulk`): CSV as RFC 4180
// writes it. The first record names the columns: template parameters, and optionally `csr`, the
// path of a device's CSR (PEM). Every other record is one device.
//
// CSV as read here: records end with CRLF, LF or a lone CR; fields are separated by ','; a field
// that holds ',', '"' or a line break is enclosed in '"', with each '"' inside it doubled. Blank
// lines are skipped. A UTF-8 byte order mark before the header is ignored. Fields are taken as
// they are (no trimming). Pure functions over text, bounded: no field is longer than
// kMaxCsvFieldBytes and no record has more than kMaxCsvFields fields (longer or wider ones are
// malformed records, not allocations).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/provisioning_template.hpp"

namespace ironroot::fleet {

inline constexpr std::size_t kMaxCsvFieldBytes = 64 * 1024;
inline constexpr std::size_t kMaxCsvFields = 256;
// The column that gives a device's CSR file.
inline constexpr std::string_view kCsrColumn = "csr";

// One CSV record.
struct CsvRecord {
  std::size_t line = 0;  // the line it starts on, counting from 1
  std::vector<std::string> fields;
  // Not empty: the record is malformed (what is wrong, e.g. "a quoted field is not closed") and
  // `fields` is empty. Reading goes on at the next line.
  std::string error;

  bool operator==(const CsvRecord&) const = default;
};

// Splits `text` into records. Never fails as a whole: each malformed record is returned with its
// error, so that one bad line does not hide the good ones.
std::vector<CsvRecord> parse_csv(std::string_view text);

// One device of the list.
struct DeviceRow {
  std::size_t line = 0;
  // Column name -> value for every column but `csr`. An empty field is left out, so that the
  // template's Default applies.
  TemplateParameters parameters;
  std::optional<std::string>
      csr_path;  // the `csr` field, when the column exists and it is not empty
  // Not empty: the row cannot be used (malformed, or the wrong number of fields), and says why.
  std::string error;

  bool operator==(const DeviceRow&) const = default;
};

struct DeviceList {
  std::vector<std::string> columns;  // the header, in order
  std::vector<DeviceRow> rows;       // in file order
};

// Reads a device list. Fails, with the line, when there is no header or the header is malformed,
// has an empty column name or names a column twice. Bad rows do not fail the list: each carries
// its error.
Result<DeviceList> parse_device_list(std::string_view text);

}  // namespace ironroot::fleet
