#include "daemon/constraint/matcher.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace mm::constraint {
namespace {

// A grammar whose expansion branches this much per byte is refused rather than run.
constexpr int kExpandBudget = 200000;
constexpr size_t kMaxStackDepth = 4096;
// expand() recurses once per alternative it branches into; nested choices and repeats (a
// regex like ((a|b)*)* nested deeply, found by fuzz_schema_compiler) would otherwise recurse as
// deep as the budget and overflow the thread's stack. Past this depth the alternative is
// dropped, as when the budget runs out.
constexpr int kMaxExpandRecursion = 512;
// Tables are dropped and rebuilt from the current state past this many states (memory bound).
constexpr size_t kMaxStates = 200000;
constexpr size_t kMaxCachedMasks = 256;

}  // namespace

Matcher::Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabIndex> vocab)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), t_(std::make_shared<Tables>()) {
  const int32_t start = start_state();
  if (start < 0) throw std::invalid_argument("the grammar matches nothing");
  set_state(start);
}

void Matcher::set_state(int32_t state) {
  state_ = state;
  accepts_now_ = t_->accepts[static_cast<size_t>(state)] != 0;
}

size_t Matcher::num_states() const {
  std::lock_guard lock(t_->mutex);
  return t_->states.size();
}

Matcher Matcher::clone_state() const {
  std::vector<Stack> current;
  {
    std::lock_guard lock(t_->mutex);
    current = t_->states[static_cast<size_t>(state_)];
  }
  Matcher copy(grammar_, vocab_);
  copy.t_ = std::make_shared<Tables>();
  copy.set_state(copy.intern(current));
  copy.ended_ = ended_;
  return copy;
}

int32_t Matcher::start_state() {
  std::vector<Stack> stacks;
  int budget = kExpandBudget;
  expand(Stack{{grammar_->root(), 0}}, stacks, budget);
  return intern(stacks);
}

void Matcher::expand(Stack stack, std::vector<Stack>& out, int& budget) const {
  thread_local int recursion = 0;
  struct Depth {
    int& n;
    ~Depth() { --n; }
  } depth{++recursion};
  if (depth.n > kMaxExpandRecursion) return;
  // Walks down to the next byte-consuming frame of every alternative (or the empty stack).
  while (true) {
    if (--budget < 0 || stack.size() > kMaxStackDepth) return;
    if (stack.empty()) {
      out.push_back(std::move(stack));
      return;
    }
    Frame& top = stack.back();
    const Node& node = grammar_->node(top.node);
    switch (node.kind) {
      case NodeKind::kClass:
      case NodeKind::kLiteral:
        out.push_back(std::move(stack));
        return;
      case NodeKind::kDfa: {
        const Dfa& dfa = grammar_->dfa(node.dfa);
        const auto q = static_cast<size_t>(top.pos);
        if (dfa.accepting[q] != 0) {
          Stack rest(stack.begin(), stack.end() - 1);
          expand(std::move(rest), out, budget);
        }
        if (dfa.has_next[q] != 0) out.push_back(std::move(stack));
        return;
      }
      case NodeKind::kSeq:
        if (static_cast<size_t>(top.pos) == node.children.size()) {
          stack.pop_back();
        } else {
          const int32_t child = node.children[static_cast<size_t>(top.pos)];
          ++top.pos;
          stack.push_back({child, 0});
        }
        break;
      case NodeKind::kChoice: {
        stack.pop_back();
        for (size_t i = 0; i + 1 < node.children.size(); ++i) {
          Stack branch = stack;
          branch.push_back({node.children[i], 0});
          expand(std::move(branch), out, budget);
        }
        stack.push_back({node.children.back(), 0});
        break;
      }
      case NodeKind::kRepeat: {
        const int32_t count = top.pos;
        const int32_t child = node.children[0];
        if (count < node.min) {
          ++top.pos;
          stack.push_back({child, 0});
          break;
        }
        if (node.max < 0 || count < node.max) {
          Stack again = stack;
          // Unbounded: the count stops at min, so the states stay finite.
          again.back().pos = node.max < 0 ? node.min : count + 1;
          again.push_back({child, 0});
          expand(std::move(again), out, budget);
        }
        stack.pop_back();
        break;
      }
    }
  }
}

int32_t Matcher::intern(std::vector<Stack>& stacks) {
  if (stacks.empty()) return -1;
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  std::string key;
  for (const Stack& s : stacks) {
    const auto n = static_cast<uint32_t>(s.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof(n));
    key.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(Frame));
  }
  auto [it, fresh] = t_->ids.emplace(std::move(key), static_cast<int32_t>(t_->states.size()));
  if (fresh) {
    bool accept = false;
    for (const Stack& s : stacks)
      accept = accept || s.empty();
    t_->accepts.push_back(accept ? 1 : 0);
    t_->states.push_back(std::move(stacks));
  }
  return it->second;
}

int32_t Matcher::step(int32_t state, uint8_t byte) {
  const uint64_t key = (static_cast<uint64_t>(state) << 8) | byte;
  if (auto it = t_->transitions.find(key); it != t_->transitions.end()) return it->second;
  std::vector<Stack> out;
  int budget = kExpandBudget;
  for (const Stack& s : t_->states[static_cast<size_t>(state)]) {
    if (s.empty()) continue;
    const Frame& top = s.back();
    const Node& node = grammar_->node(top.node);
    switch (node.kind) {
      case NodeKind::kClass:
        if (node.bytes.test(byte)) expand(Stack(s.begin(), s.end() - 1), out, budget);
        break;
      case NodeKind::kLiteral:
        if (static_cast<uint8_t>(node.literal[static_cast<size_t>(top.pos)]) == byte) {
          Stack next = s;
          if (static_cast<size_t>(++next.back().pos) == node.literal.size()) next.pop_back();
          expand(std::move(next), out, budget);
        }
        break;
      case NodeKind::kDfa: {
        const int16_t q = grammar_->dfa(node.dfa).next[static_cast<size_t>(top.pos)][byte];
        if (q != Dfa::kDead) {
          Stack next = s;
          next.back().pos = q;
          expand(std::move(next), out, budget);
        }
        break;
      }
      case NodeKind::kSeq:
      case NodeKind::kChoice:
      case NodeKind::kRepeat:
        break;  // never on top after expansion
    }
  }
  const int32_t to = intern(out);
  t_->transitions.emplace(key, to);
  return to;
}

void Matcher::detach_tables() {
  // Past the bound this matcher goes on alone from its state; the shared tables stay valid for
  // the other matchers using them.
  std::vector<Stack> current = t_->states[static_cast<size_t>(state_)];
  t_ = std::make_shared<Tables>();
  set_state(intern(current));
}

bool Matcher::advance_bytes(std::string_view bytes) {
  if (ended_) return bytes.empty();
  std::unique_lock lock(t_->mutex);
  int32_t s = state_;
  for (char c : bytes) {
    s = step(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  set_state(s);
  if (t_->states.size() > kMaxStates) {
    auto shared = t_;  // keeps the locked mutex alive until unlocked
    lock.unlock();
    std::lock_guard relock(shared->mutex);
    detach_tables();
  }
  return true;
}

bool Matcher::can_take(std::string_view bytes) {
  if (ended_) return bytes.empty();
  std::lock_guard lock(t_->mutex);
  int32_t s = state_;
  for (char c : bytes) {
    s = step(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  return true;
}

bool Matcher::advance_token(int32_t token_id) {
  if (ended_ || token_id < 0 || token_id >= vocab_->vocab_size()) return false;
  if (vocab_->is_end(token_id)) {
    if (!accepts()) return false;
    ended_ = true;
    return true;
  }
  const std::string& bytes = vocab_->token(token_id);
  return !bytes.empty() && advance_bytes(bytes);
}

const InsideSet* Matcher::inside_for(int32_t state) {
  if (auto it = t_->inside.find(state); it != t_->inside.end()) return it->second.get();
  // A DFA on top that lets most bytes through (a string body, free text): its inside tokens are
  // allowed without a walk; the walk visits only the subtrees holding tokens that leave it.
  std::shared_ptr<const InsideSet> best;
  for (const Stack& s : t_->states[static_cast<size_t>(state)]) {
    if (s.empty()) continue;
    const Node& node = grammar_->node(s.back().node);
    if (node.kind != NodeKind::kDfa) continue;
    const Dfa& dfa = grammar_->dfa(node.dfa);
    const auto& row = dfa.next[static_cast<size_t>(s.back().pos)];
    const auto live = std::count_if(row.begin(), row.end(), [](int16_t t) { return t >= 0; });
    if (live >= kMinInsideBytes) {
      best = vocab_->inside(dfa, s.back().pos);
      break;
    }
  }
  return t_->inside.emplace(state, std::move(best)).first->second.get();
}

void Matcher::walk(uint32_t node, int32_t state, uint32_t* mask, const InsideSet* skip) {
  const VocabIndex& vocab = *vocab_;
  for (uint32_t e = vocab.edge_begin(node); e < vocab.edge_end(node); ++e) {
    const uint32_t child = vocab.edge_child(e);
    if (skip != nullptr && !skip->is_flagged(child)) continue;
    const int32_t next = step(state, vocab.edge_byte(e));
    if (next < 0) continue;
    for (const int32_t* t = vocab.tokens_begin(child); t != vocab.tokens_end(child); ++t)
      mask[static_cast<size_t>(*t) >> 5] |= 1u << (*t & 31);
    if (vocab.edge_begin(child) != vocab.edge_end(child))
      walk(child, next, mask, skip != nullptr && skip->is_dead(child) ? nullptr : skip);
  }
}

void Matcher::fill_mask(std::span<uint32_t> mask) {
  std::fill(mask.begin(), mask.end(), 0u);
  if (ended_) return;
  const size_t words = std::min(mask.size(), vocab_->num_words());
  std::lock_guard lock(t_->mutex);
  if (auto it = t_->masks.find(state_); it != t_->masks.end()) {
    std::memcpy(mask.data(), it->second.data(), words * sizeof(uint32_t));
    return;
  }
  std::vector<uint32_t> computed(vocab_->num_words(), 0u);
  const InsideSet* skip = inside_for(state_);
  if (skip != nullptr) computed = skip->mask;
  walk(0, state_, computed.data(), skip);
  if (accepts_now_) {
    for (int32_t id : vocab_->end_ids()) {
      if (id >= 0 && id < vocab_->vocab_size())
        computed[static_cast<size_t>(id) >> 5] |= 1u << (id & 31);
    }
  }
  std::memcpy(mask.data(), computed.data(), words * sizeof(uint32_t));
  if (t_->masks.size() >= kMaxCachedMasks) t_->masks.clear();
  t_->masks.emplace(state_, std::move(computed));
}

}  // namespace mm::constraint
