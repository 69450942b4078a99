#include "daemon/text/bpe.h"

#include <algorithm>
#include <atomic>
#include <queue>

#include "daemon/text/error.h"

namespace mm::text {
namespace {

constexpr size_t kMaxCachedWordBytes = 64;
constexpr size_t kMaxCacheEntries = 1 << 15;

struct StringHash {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): std protocol name
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct WordCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
};

std::atomic<uint64_t> g_next_model_id{1};

}  // namespace

BpeModel::BpeModel() : cache_owner_(g_next_model_id.fetch_add(1)) {}

void BpeModel::add_token(std::string bytes, int32_t id, std::string_view where) {
  if (id < 0 || id > kMaxTokenId) {
    throw TextError(std::string(where) + ": token id " + std::to_string(id) + " is outside 0.." +
                    std::to_string(kMaxTokenId));
  }
  if (static_cast<size_t>(id) >= id_to_bytes_.size()) {
    id_to_bytes_.resize(static_cast<size_t>(id) + 1);
    has_id_.resize(static_cast<size_t>(id) + 1, false);
  }
  if (has_id_[static_cast<size_t>(id)]) {
    throw TextError(std::string(where) + ": token id " + std::to_string(id) + " is used twice");
  }
  has_id_[static_cast<size_t>(id)] = true;
  id_to_bytes_[static_cast<size_t>(id)] = bytes;
  if (bytes.size() == 1) {
    if (!byte_ids_ready_) {
      byte_ids_.fill(-1);
      byte_ids_ready_ = true;
    }
    byte_ids_[static_cast<unsigned char>(bytes[0])] = id;
  }
  token_to_id_.emplace(std::move(bytes), id);
}

void BpeModel::add_merge(std::string_view left, std::string_view right, int32_t rank,
                         std::string_view where) {
  auto find = [&](std::string_view bytes, const char* what) {
    auto it = token_to_id_.find(std::string(bytes));
    if (it == token_to_id_.end()) {
      throw TextError(std::string(where) + ": merge " + what + " is not in the vocabulary");
    }
    return it->second;
  };
  const int32_t left_id = find(left, "left side");
  const int32_t right_id = find(right, "right side");
  std::string merged(left);
  merged += right;
  const int32_t merged_id = find(merged, "result");
  // The first listing of a pair wins, as in Hugging Face (lower rank).
  merges_.emplace(pair_key(left_id, right_id), Merge{rank, merged_id});
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view bytes) const {
  auto it = token_to_id_.find(std::string(bytes));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_bytes_.size() ||
      !has_id_[static_cast<size_t>(id)]) {
    return nullptr;
  }
  return &id_to_bytes_[static_cast<size_t>(id)];
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (word.size() > kMaxCachedWordBytes) {
    merge_word(word, out);
    return;
  }
  thread_local WordCache cache;
  if (cache.owner != cache_owner_) {
    cache.words.clear();
    cache.owner = cache_owner_;
  }
  auto it = cache.words.find(word);
  if (it != cache.words.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  const size_t start = out.size();
  merge_word(word, out);
  if (cache.words.size() >= kMaxCacheEntries) cache.words.clear();
  cache.words.emplace(std::string(word),
                      std::vector<int32_t>(out.begin() + static_cast<ptrdiff_t>(start), out.end()));
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  // Symbols form a linked list over the word's bytes; `pos` of a symbol is its first byte.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (char c : word) {
    const int32_t id = byte_ids_ready_ ? byte_ids_[static_cast<unsigned char>(c)] : -1;
    if (id < 0) continue;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // Candidate merges ordered by (rank, position): Hugging Face applies the lowest rank first and,
  // among equal ranks, the leftmost. Entries go stale when a neighbour merges; they are checked
  // against the current ids when popped.
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t left_id;
    int32_t right_id;
    int32_t merged_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto push_pair = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t next = symbols[static_cast<size_t>(pos)].next;
    if (next < 0) return;
    const int32_t left = symbols[static_cast<size_t>(pos)].id;
    const int32_t right = symbols[static_cast<size_t>(next)].id;
    auto it = merges_.find(pair_key(left, right));
    if (it != merges_.end()) queue.push({it->second.rank, pos, left, right, it->second.merged_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i)
    push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (left.id != top.left_id || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    if (right.id != top.right_id) continue;
    left.id = top.merged_id;
    right.id = -1;  // dead
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    out.push_back(symbols[static_cast<size_t>(i)].id);
  }
}

}  // namespace mm::text
