#include "daemon/constraint/vocab_index.h"

#include <algorithm>
#include <numeric>

namespace mm::constraint {

VocabIndex::VocabIndex(const std::vector<std::string>& token_bytes, std::vector<int32_t> end_ids)
    : vocab_size_(static_cast<int32_t>(token_bytes.size())),
      tokens_(token_bytes),
      end_ids_(std::move(end_ids)) {
  // Tokens in byte order make each node's children contiguous and built in one pass: node i's
  // subtree is a run of the sorted list.
  std::vector<int32_t> order(token_bytes.size());
  std::iota(order.begin(), order.end(), 0);
  std::erase_if(order, [&](int32_t id) { return token_bytes[static_cast<size_t>(id)].empty(); });
  std::erase_if(order, [&](int32_t id) { return is_end(id); });
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return token_bytes[static_cast<size_t>(a)] < token_bytes[static_cast<size_t>(b)];
  });
  // Build with per-node child lists, then flatten breadth-first into contiguous edges.
  struct Build {
    std::vector<std::pair<uint8_t, uint32_t>> children;
    std::vector<int32_t> tokens;
  };
  std::vector<Build> nodes(1);
  for (int32_t id : order) {
    uint32_t node = 0;
    for (char c : token_bytes[static_cast<size_t>(id)]) {
      const auto b = static_cast<uint8_t>(c);
      auto& children = nodes[node].children;
      // Sorted input: a new child is always the last one.
      if (children.empty() || children.back().first != b) {
        children.emplace_back(b, static_cast<uint32_t>(nodes.size()));
        nodes.emplace_back();
      }
      node = nodes[node].children.back().second;
    }
    nodes[node].tokens.push_back(id);
  }
  std::vector<uint32_t> new_id(nodes.size());
  std::vector<uint32_t> queue{0};
  new_id[0] = 0;
  for (size_t i = 0; i < queue.size(); ++i) {
    for (const auto& [b, child] : nodes[queue[i]].children) {
      new_id[child] = static_cast<uint32_t>(queue.size());
      queue.push_back(child);
    }
  }
  edge_begin_.reserve(nodes.size() + 1);
  token_begin_.reserve(nodes.size() + 1);
  for (uint32_t old : queue) {
    edge_begin_.push_back(static_cast<uint32_t>(edge_byte_.size()));
    token_begin_.push_back(static_cast<uint32_t>(node_tokens_.size()));
    for (const auto& [b, child] : nodes[old].children) {
      edge_byte_.push_back(b);
      edge_child_.push_back(new_id[child]);
    }
    node_tokens_.insert(node_tokens_.end(), nodes[old].tokens.begin(), nodes[old].tokens.end());
  }
  edge_begin_.push_back(static_cast<uint32_t>(edge_byte_.size()));
  token_begin_.push_back(static_cast<uint32_t>(node_tokens_.size()));
}

bool VocabIndex::is_end(int32_t id) const {
  return std::find(end_ids_.begin(), end_ids_.end(), id) != end_ids_.end();
}

namespace {

// Marks the tokens under `node` the DFA keeps alive from `state`; returns whether the subtree
// holds one it does not (flagged).
bool mark_inside(const VocabIndex& vocab, const Dfa& dfa, uint32_t node, int state,
                 InsideSet& out) {
  bool flagged = false;
  for (uint32_t e = vocab.edge_begin(node); e < vocab.edge_end(node); ++e) {
    const uint32_t child = vocab.edge_child(e);
    const int next = dfa.next[static_cast<size_t>(state)][vocab.edge_byte(e)];
    bool child_flagged = true;  // a dead byte: every token below leaves the DFA
    if (next != Dfa::kDead) {
      for (const int32_t* t = vocab.tokens_begin(child); t != vocab.tokens_end(child); ++t)
        out.mask[static_cast<size_t>(*t) >> 5] |= 1u << (*t & 31);
      child_flagged = mark_inside(vocab, dfa, child, next, out);
    } else {
      out.dead[child >> 6] |= uint64_t{1} << (child & 63);
    }
    if (child_flagged) out.flagged[child >> 6] |= uint64_t{1} << (child & 63);
    flagged = flagged || child_flagged;
  }
  return flagged;
}

}  // namespace

std::shared_ptr<const InsideSet> VocabIndex::inside(const Dfa& dfa, int state) const {
  const uint64_t key = dfa.fingerprint * 1000003ULL + static_cast<uint64_t>(state);
  {
    std::lock_guard lock(mutex_);
    if (auto it = inside_.find(key); it != inside_.end()) return it->second;
  }
  auto set = std::make_shared<InsideSet>();
  set->mask.assign(num_words(), 0);
  set->flagged.assign((num_trie_nodes() + 63) / 64, 0);
  set->dead.assign((num_trie_nodes() + 63) / 64, 0);
  mark_inside(*this, dfa, 0, state, *set);
  std::lock_guard lock(mutex_);
  if (inside_.size() >= 256) inside_.clear();  // bounded: a few MB per entry at 200k tokens
  inside_.emplace(key, set);
  return set;
}

}  // namespace mm::constraint
