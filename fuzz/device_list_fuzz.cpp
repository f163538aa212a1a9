// Fuzzes the device list `ironroot provision bulk` reads (a CSV file from the factory): never
// crashes, never returns a field over its limit, and lines only go forward.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ironroot/fleet/device_list.hpp"

namespace fleet = ironroot::fleet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t line = 0;
  for (const fleet::CsvRecord& record : fleet::parse_csv(text)) {
    if (record.line <= line) std::abort();
    line = record.line;
    if (!record.error.empty() && !record.fields.empty()) std::abort();
    if (record.fields.size() > fleet::kMaxCsvFields) std::abort();
    for (const auto& field : record.fields) {
      if (field.size() > fleet::kMaxCsvFieldBytes) std::abort();
    }
  }
  if (auto list = fleet::parse_device_list(text)) {
    for (const fleet::DeviceRow& row : list->rows) {
      if (row.error.empty() && row.parameters.size() > list->columns.size()) std::abort();
    }
  }
  return 0;
}
