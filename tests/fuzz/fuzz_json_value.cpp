// Parses arbitrary bytes as JSON; a parsed value must survive dump and re-parse unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/text/error.h"
#include "daemon/text/json_value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mm::text::JsonValue value;
  try {
    value = mm::text::JsonValue::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const mm::text::TextError&) {
    return 0;
  }
  const std::string dumped = value.dump(mm::text::JsonDumpOptions::compact());
  if (dumped.find("NaN") != std::string::npos || dumped.find("Infinity") != std::string::npos)
    return 0;
  // Dumping is a fixed point after one round trip (integers beyond int64 became floats).
  const auto again = mm::text::JsonValue::parse(dumped);
  if (again.dump(mm::text::JsonDumpOptions::compact()) != dumped) std::abort();
  if (!(again == again)) std::abort();
  return 0;
}
