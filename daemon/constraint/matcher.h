// Matches a Grammar byte by byte as a set of stacks (a nondeterministic pushdown automaton whose
// reachable sets are interned and whose transitions are memoized: a lazily built DFA), and turns
// a state into the mask of vocabulary tokens whose bytes it accepts.
// Owned by one request (one thread); the grammar and vocabulary it reads are shared, immutable.
// Copies share the memo tables (under their mutex), so requests of one grammar reuse each
// other's states and masks: copy a matcher at its start for each request.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/constraint/grammar.h"
#include "daemon/constraint/vocab_index.h"

namespace mm::constraint {

struct Frame {
  int32_t node = 0;
  int32_t pos = 0;  // kSeq: next child; kLiteral: next byte; kRepeat: count; kDfa: its state
  bool operator==(const Frame&) const = default;
  auto operator<=>(const Frame&) const = default;
};
using Stack = std::vector<Frame>;

class Matcher {
 public:
  Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabIndex> vocab);

  // The grammar may end here (the end tokens are allowed).
  bool accepts() const { return accepts_now_; }
  // True after an end token was taken: nothing more is allowed.
  bool ended() const { return ended_; }
  // Advances by bytes; false (state unchanged) when the grammar refuses them.
  bool advance_bytes(std::string_view bytes);
  // Advances by a token: its bytes, or an end token where the grammar may end.
  bool advance_token(int32_t token_id);
  // Bit i % 32 of word i / 32 set for each allowed token; `mask` has vocab.num_words() words.
  void fill_mask(std::span<uint32_t> mask);

  // A matcher at the same state without this one's memo tables (cheap to make).
  Matcher clone_state() const;

  // Would the grammar take these bytes (no change)? For tests and the brute-force reference.
  bool can_take(std::string_view bytes);
  size_t num_states() const;

 private:
  int32_t start_state();
  int32_t step(int32_t state, uint8_t byte);
  int32_t intern(std::vector<Stack>& stacks);
  void expand(Stack stack, std::vector<Stack>& out, int& budget) const;
  void walk(uint32_t node, int32_t state, uint32_t* mask, const InsideSet* skip);
  const InsideSet* inside_for(int32_t state);
  void detach_tables();
  void set_state(int32_t state);

  // The lazily built DFA of the grammar over bytes and its masks; shared by copies.
  struct Tables {
    std::mutex mutex;
    std::vector<std::vector<Stack>> states;  // interned sets of stacks (sorted, unique)
    std::vector<uint8_t> accepts;            // [state]: an empty stack is in the set
    std::unordered_map<std::string, int32_t> ids;
    std::unordered_map<uint64_t, int32_t> transitions;  // state << 8 | byte -> state or -1
    std::unordered_map<int32_t, std::vector<uint32_t>> masks;
    std::unordered_map<int32_t, std::shared_ptr<const InsideSet>> inside;  // null: none
  };

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const VocabIndex> vocab_;
  std::shared_ptr<Tables> t_;
  int32_t state_ = 0;
  bool accepts_now_ = false;
  bool ended_ = false;
};

}  // namespace mm::constraint
