#include "daemon/model/checkpoint.h"

#include <sys/stat.h>

#include <map>
#include <unordered_set>

#include "daemon/model/checkpoint_file.h"
#include "daemon/model/json_reader.h"
#include "daemon/model/load_error.h"

namespace mm {

namespace fs = std::filesystem;

namespace {

// Whether anything (a file, a FIFO, a dangling or looping symlink) is at `path`: such names
// are opened, and refused with what is wrong with them, rather than taken for absent.
bool present(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

Checkpoint::Checkpoint(const fs::path& folder) : folder_(folder) {
  std::error_code ec;
  if (!fs::is_directory(folder_, ec)) {
    throw LoadError(folder_.string() + ": not a checkpoint folder (no such directory)");
  }
  const fs::path index = folder_ / "model.safetensors.index.json";
  const fs::path single = folder_ / "model.safetensors";
  if (present(index)) {
    open_indexed(index);
  } else if (present(single)) {
    open_single(single);
  } else {
    throw LoadError(folder_.string() +
                    ": no model.safetensors and no model.safetensors.index.json");
  }
}

void Checkpoint::open_single(const fs::path& file) {
  shards_.emplace_back(file);
  add_shard_tensors(0);
}

void Checkpoint::add_shard_tensors(int shard) {
  for (const TensorInfo& info : shards_[shard].tensors()) {
    auto [it, inserted] = tensors_.emplace(info.name, TensorRef{&info, shard});
    if (!inserted) {
      throw LoadError(shards_[shard].path().string() + ": tensor '" + info.name + "' is also in " +
                      shard_name(it->second));
    }
  }
}

ShardIndex parse_shard_index(std::string_view text, const std::string& file) {
  simdjson::dom::parser parser;
  JsonObjectReader index(parse_json_document(parser, text, file), file, "");
  auto weight_map = index.object("weight_map");

  // Shard names in first-seen order; the "-of-N" count in the names is not trusted (the official
  // MiniMax release numbers 125 files "of-00130").
  ShardIndex out;
  std::map<std::string, int, std::less<>> shard_ids;
  std::unordered_set<std::string_view> names;
  for (auto [name, value] : weight_map.raw()) {
    std::string_view shard;
    if (value.get(shard)) {
      throw LoadError(file + ": weight_map entry '" + std::string(name) + "' must be a file name");
    }
    if (shard.find('/') != std::string_view::npos || shard.find('\0') != std::string_view::npos ||
        shard == ".." || shard == "." || shard.empty()) {
      throw LoadError(file + ": weight_map entry '" + std::string(name) +
                      "' names a file outside the folder: '" + std::string(shard) + "'");
    }
    if (!names.insert(name).second) {
      throw LoadError(file + ": weight_map lists tensor '" + std::string(name) + "' twice");
    }
    out.entries.emplace_back(name, shard);
    if (!shard_ids.contains(shard)) {
      shard_ids.emplace(shard, static_cast<int>(shard_ids.size()));
      out.shard_files.emplace_back(shard);
    }
  }
  if (out.entries.empty()) throw LoadError(file + ": weight_map is empty");
  return out;
}

void Checkpoint::open_indexed(const fs::path& index_file) {
  const std::string file = index_file.string();
  const std::optional<std::string> text = read_regular_file(index_file);
  if (!text) throw LoadError(file + ": does not exist");
  const ShardIndex index = parse_shard_index(*text, file);

  shards_.reserve(index.shard_files.size());
  for (size_t id = 0; id < index.shard_files.size(); ++id) {
    const fs::path shard_path = folder_ / index.shard_files[id];
    if (!present(shard_path)) {
      throw LoadError(file + ": names shard '" + index.shard_files[id] + "', which does not exist");
    }
    shards_.emplace_back(shard_path);
    add_shard_tensors(static_cast<int>(id));
  }

  std::unordered_set<std::string_view> listed;
  for (const auto& [name, shard] : index.entries) {
    listed.insert(name);
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      throw LoadError(file + ": tensor '" + name + "' is mapped to " + shard +
                      " but no shard holds it");
    }
    if (shard_name(it->second) != shard) {
      throw LoadError(file + ": tensor '" + name + "' is mapped to " + shard + " but is in " +
                      shard_name(it->second));
    }
  }
  if (index.entries.size() != tensors_.size()) {
    for (const auto& shard : shards_) {
      for (const TensorInfo& info : shard.tensors()) {
        if (!listed.contains(info.name)) {
          throw LoadError(shard.path().string() + ": tensor '" + info.name +
                          "' is not listed in model.safetensors.index.json");
        }
      }
    }
  }
}

TensorRef Checkpoint::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? TensorRef{} : it->second;
}

std::string Checkpoint::shard_name(TensorRef ref) const {
  return shards_[ref.shard].path().filename().string();
}

std::vector<TensorRef> Checkpoint::all_tensors() const {
  std::vector<TensorRef> out;
  out.reserve(tensors_.size());
  for (size_t shard = 0; shard < shards_.size(); ++shard) {
    for (const TensorInfo& info : shards_[shard].tensors()) {
      out.push_back(TensorRef{&info, static_cast<int>(shard)});
    }
  }
  return out;
}

uint64_t Checkpoint::total_file_bytes() const {
  uint64_t total = 0;
  for (const auto& shard : shards_)
    total += shard.file_size();
  return total;
}

std::optional<std::string> Checkpoint::read_text_file(std::string_view name) const {
  return read_regular_file(folder_ / name);
}

}  // namespace mm
