// The vocabulary as the constraint engine walks it: every token's bytes in a trie, the tokens
// that may only end an answer (end of turn), and per (DFA, state) the tokens that stay inside
// that DFA (so a mask inside a long string walks only the tokens that leave it).
// Thread-safe: immutable after construction except the inside cache, guarded by a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/constraint/grammar.h"

namespace mm::constraint {

// Tokens allowed from a DFA state by the DFA alone, and for each trie node whether its subtree
// holds a token that is not (the walk must visit it).
struct InsideSet {
  std::vector<uint32_t> mask;     // [num_words]
  std::vector<uint64_t> flagged;  // [ceil(num_trie_nodes / 64)]
  // Nodes whose byte the DFA refuses: nothing below them is covered by `flagged`.
  std::vector<uint64_t> dead;  // [ceil(num_trie_nodes / 64)]
  bool is_flagged(uint32_t node) const { return ((flagged[node >> 6] >> (node & 63)) & 1) != 0; }
  bool is_dead(uint32_t node) const { return ((dead[node >> 6] >> (node & 63)) & 1) != 0; }
};

// A DFA state letting at least this many bytes through gets an inside set.
inline constexpr int kMinInsideBytes = 64;

class VocabIndex {
 public:
  // `token_bytes[i]`: the bytes token i writes; empty for tokens never allowed (special tokens).
  // `end_ids`: tokens allowed exactly where the grammar may end (end of turn, EOS).
  VocabIndex(const std::vector<std::string>& token_bytes, std::vector<int32_t> end_ids);

  int32_t vocab_size() const { return vocab_size_; }
  size_t num_words() const { return (static_cast<size_t>(vocab_size_) + 31) / 32; }
  const std::vector<int32_t>& end_ids() const { return end_ids_; }
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  bool is_end(int32_t id) const;

  // Trie: node 0 is the root; a node's edges are [edge_begin(n), edge_begin(n + 1)).
  uint32_t edge_begin(uint32_t node) const { return edge_begin_[node]; }
  uint32_t edge_end(uint32_t node) const { return edge_begin_[node + 1]; }
  uint8_t edge_byte(uint32_t edge) const { return edge_byte_[edge]; }
  uint32_t edge_child(uint32_t edge) const { return edge_child_[edge]; }
  // Tokens whose bytes end at `node`.
  const int32_t* tokens_begin(uint32_t node) const { return &node_tokens_[token_begin_[node]]; }
  const int32_t* tokens_end(uint32_t node) const { return &node_tokens_[token_begin_[node + 1]]; }
  size_t num_trie_nodes() const { return edge_begin_.size() - 1; }

  // Computed on first use (a walk of the whole trie), then shared.
  std::shared_ptr<const InsideSet> inside(const Dfa& dfa, int state) const;

 private:
  int32_t vocab_size_ = 0;
  std::vector<std::string> tokens_;
  std::vector<int32_t> end_ids_;
  std::vector<uint32_t> edge_begin_;  // [num_nodes + 1]
  std::vector<uint8_t> edge_byte_;
  std::vector<uint32_t> edge_child_;
  std::vector<uint32_t> token_begin_;  // [num_nodes + 1]
  std::vector<int32_t> node_tokens_;

  mutable std::mutex mutex_;
  mutable std::unordered_map<uint64_t, std::shared_ptr<const InsideSet>> inside_;
};

}  // namespace mm::constraint
