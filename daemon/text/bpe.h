// Byte-level BPE model: vocabulary and ranked merges, both over raw bytes (the byte-level alphabet
// is undone at load). Thread-safe after construction: `encode_word` only reads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mm::text {

// Largest token id accepted from a file (real vocabularies are below 1M; the id table is dense).
inline constexpr int32_t kMaxTokenId = (1 << 24) - 1;

class BpeModel {
 public:
  BpeModel();

  // Adds a vocabulary entry (raw bytes). Throws TextError when `id` is negative or repeated.
  void add_token(std::string bytes, int32_t id, std::string_view where);
  // Adds the merge of rank `rank` (`left` + `right`, raw bytes). Throws TextError naming `where`
  // when a side or the merged token is not in the vocabulary.
  void add_merge(std::string_view left, std::string_view right, int32_t rank,
                 std::string_view where);
  void set_ignore_merges(bool ignore) { ignore_merges_ = ignore; }

  // Appends the ids of one pre-token (raw bytes). Bytes with no single-byte token are dropped, as
  // Hugging Face does for a BPE model without unk_token. Results of short words are memoised in a
  // per-thread cache (like Hugging Face's word cache, but lock-free: one cache per thread).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view bytes) const;
  // Raw bytes of `id`, or nullptr when the model has no such id.
  const std::string* id_to_bytes(int32_t id) const;
  size_t num_tokens() const { return token_to_id_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_bytes_.size()) - 1; }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_bytes_;
  std::vector<bool> has_id_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};
  bool byte_ids_ready_ = false;
  bool ignore_merges_ = false;
  uint64_t cache_owner_;  // unique per model, so a thread's cache never serves another model

  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
};

}  // namespace mm::text
