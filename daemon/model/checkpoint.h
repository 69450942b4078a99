// A Hugging Face checkpoint folder: config.json, generation_config.json and the safetensors
// shards (one model.safetensors, or several resolved through model.safetensors.index.json).
// Immutable after construction; const methods are safe from any thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/model/safetensors.h"

namespace mm {

// model.safetensors.index.json, parsed and checked on its own (no file is opened): its
// weight_map entries and the shard files they name, in first-seen order.
struct ShardIndex {
  std::vector<std::string> shard_files;
  std::vector<std::pair<std::string, std::string>> entries;  // tensor name, shard file
};

// Throws LoadError naming `file` and the entry when the JSON is malformed, weight_map is
// missing or empty, or an entry is not a plain file name of the folder.
ShardIndex parse_shard_index(std::string_view text, const std::string& file);

struct TensorRef {
  const TensorInfo* info = nullptr;
  int shard = -1;
  explicit operator bool() const { return info != nullptr; }
};

class Checkpoint {
 public:
  // Opens every shard and validates each header, and the index against the shards: every
  // name of the index must be in its shard and every shard tensor in the index. Throws LoadError.
  explicit Checkpoint(const std::filesystem::path& folder);

  const std::filesystem::path& folder() const { return folder_; }
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // Null ref when absent.
  TensorRef find(std::string_view name) const;
  TensorView view(TensorRef ref) const { return shards_[ref.shard].view(*ref.info); }
  // "file.safetensors" of the shard holding `ref`, for messages.
  std::string shard_name(TensorRef ref) const;
  size_t num_tensors() const { return tensors_.size(); }
  // All tensors in a stable order (shard, then header order).
  std::vector<TensorRef> all_tensors() const;
  uint64_t total_file_bytes() const;
  // The text of a JSON file of the folder, or nullopt when it does not exist. Throws LoadError
  // when it exists but is not a readable regular file (checkpoint_file.h).
  std::optional<std::string> read_text_file(std::string_view name) const;

 private:
  void open_single(const std::filesystem::path& file);
  void open_indexed(const std::filesystem::path& index_file);
  void add_shard_tensors(int shard);

  std::filesystem::path folder_;
  std::vector<SafetensorsFile> shards_;
  std::unordered_map<std::string_view, TensorRef> tensors_;
};

}  // namespace mm
