// Fuzzes model.safetensors.index.json: every input either yields entries that each name a
// plain file of the checkpoint folder (no path separator, no "..") or raises LoadError.
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/model/checkpoint.h"
#include "daemon/model/load_error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const mm::ShardIndex index = mm::parse_shard_index(text, "model.safetensors.index.json");
    if (index.entries.empty() || index.shard_files.empty()) __builtin_trap();
    for (const std::string& shard : index.shard_files) {
      if (shard.empty() || shard == ".." || shard == "." || shard.find('/') != std::string::npos ||
          shard.find('\0') != std::string::npos) {
        __builtin_trap();
      }
    }
  } catch (const mm::LoadError&) {
  }
  return 0;
}
