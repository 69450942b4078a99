#include "daemon/engine/kv_fingerprint.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daemon/engine/disk_kv_tier.h"

namespace mm {

namespace {

void append_number(std::string& out, std::string_view name, int64_t value) {
  out += name;
  out += '=';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

BlockHash kv_model_fingerprint(const std::filesystem::path& model, ModelRunner& runner) {
  std::string text = "mmd kv tier fingerprint\n";
  append_number(text, "format", DiskKvTier::kFormatVersion);
  {
    std::ifstream config(model / "config.json", std::ios::binary);
    text.append(std::istreambuf_iterator<char>(config), std::istreambuf_iterator<char>());
    text += '\n';
  }
  std::vector<std::string> shards;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(model, ec)) {
    if (entry.path().extension() != ".safetensors") continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    shards.push_back(entry.path().filename().string() + " " + std::to_string(st.st_size) + " " +
                     std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  }
  std::sort(shards.begin(), shards.end());
  for (const std::string& shard : shards)
    text += shard + '\n';
  const KvCache& kv = runner.kv_cache();
  text += "kv_dtype=" + std::string(kv_cache_dtype_name(kv.dtype())) + '\n';
  append_number(text, "block_size", kv.shape().block_size);
  append_number(text, "num_layers", kv.shape().num_layers);
  append_number(text, "num_kv_heads", kv.shape().num_kv_heads);
  append_number(text, "head_dim", kv.shape().head_dim);
  text += "backend=" + std::string(runner.backend().name()) + '\n';
  const Communicator* comm = runner.options().comm;
  append_number(text, "tp_size", comm != nullptr ? comm->size() : 1);
  append_number(text, "tp_rank", comm != nullptr ? comm->rank() : 0);
  for (int64_t l = 0; l < kv.shape().num_layers; ++l) {
    const KvLayerView view = kv.layer(l);
    text.append(reinterpret_cast<const char*>(&view.k_scale), sizeof(float));
    text.append(reinterpret_cast<const char*>(&view.v_scale), sizeof(float));
  }
  const auto bytes = std::as_bytes(std::span(text.data(), text.size()));
  return BlockHash{kv_payload_checksum(bytes, 1), kv_payload_checksum(bytes, 2)};
}

}  // namespace mm
