#include "daemon/model/checkpoint.h"

#include <fstream>
#include <map>
#include <sstream>

#include "daemon/model/json_reader.h"
#include "daemon/model/load_error.h"

namespace mm {

namespace fs = std::filesystem;

Checkpoint::Checkpoint(const fs::path& folder) : folder_(folder) {
  std::error_code ec;
  if (!fs::is_directory(folder_, ec)) {
    throw LoadError(folder_.string() + ": not a checkpoint folder (no such directory)");
  }
  const fs::path index = folder_ / "model.safetensors.index.json";
  const fs::path single = folder_ / "model.safetensors";
  if (fs::exists(index, ec)) {
    open_indexed(index);
  } else if (fs::exists(single, ec)) {
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

void Checkpoint::open_indexed(const fs::path& index_file) {
  const std::string file = index_file.string();
  auto text = read_text_file(index_file.filename().string());
  simdjson::dom::parser parser;
  JsonObjectReader index(parse_json_document(parser, *text, file), file, "");
  auto weight_map = index.object("weight_map");

  // Shard names in first-seen order; the "-of-N" count in the names is not trusted (the official
  // MiniMax release numbers 125 files "of-00130").
  std::map<std::string, int> shard_ids;
  std::vector<std::pair<std::string, std::string>> entries;
  for (auto [name, value] : weight_map.raw()) {
    std::string_view shard;
    if (value.get(shard)) {
      throw LoadError(file + ": weight_map entry '" + std::string(name) + "' must be a file name");
    }
    if (shard.find('/') != std::string_view::npos || shard == ".." || shard.empty()) {
      throw LoadError(file + ": weight_map entry '" + std::string(name) +
                      "' names a file outside the folder: '" + std::string(shard) + "'");
    }
    entries.emplace_back(name, shard);
    if (!shard_ids.contains(std::string(shard))) {
      const int id = static_cast<int>(shard_ids.size());
      shard_ids.emplace(shard, id);
    }
  }
  if (entries.empty()) throw LoadError(file + ": weight_map is empty");

  std::vector<std::string> shard_files(shard_ids.size());
  for (const auto& [name, id] : shard_ids)
    shard_files[id] = name;
  shards_.reserve(shard_files.size());
  for (size_t id = 0; id < shard_files.size(); ++id) {
    const fs::path shard_path = folder_ / shard_files[id];
    std::error_code ec;
    if (!fs::exists(shard_path, ec)) {
      throw LoadError(file + ": names shard '" + shard_files[id] + "', which does not exist");
    }
    shards_.emplace_back(shard_path);
    add_shard_tensors(static_cast<int>(id));
  }

  for (const auto& [name, shard] : entries) {
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
  if (entries.size() != tensors_.size()) {
    for (const auto& shard : shards_) {
      for (const TensorInfo& info : shard.tensors()) {
        if (!weight_map.has(info.name)) {
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
  const fs::path path = folder_ / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace mm
