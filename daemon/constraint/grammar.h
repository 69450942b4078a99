// A byte-level grammar: nodes (byte classes, literals, sequences, choices, bounded repeats and
// small DFAs) that refer to each other by index, so recursion ($ref, nested JSON) is a cycle.
// Matched by a set of stacks (matcher.h); no left recursion: every cycle passes a byte.
// Thread-safe once built: a Grammar is immutable and shared by the requests that use it.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mm::constraint {

// A deterministic automaton over bytes, matched inside one grammar node: its frame's position is
// the DFA state. The node may end in an accepting state; it ends at once where no byte continues.
struct Dfa {
  static constexpr int16_t kDead = -1;
  std::vector<std::array<int16_t, 256>> next;  // [num_states][256]
  std::vector<uint8_t> accepting;              // [num_states]
  std::vector<uint8_t> has_next;               // [num_states]: some byte continues
  uint64_t fingerprint = 0;                    // content hash: equal DFAs share vocab caches

  int add_state(bool accept);
  void finish();  // fills has_next and fingerprint
};

enum class NodeKind : uint8_t { kClass, kLiteral, kSeq, kChoice, kRepeat, kDfa };

struct Node {
  NodeKind kind = NodeKind::kSeq;
  std::bitset<256> bytes;         // kClass
  std::string literal;            // kLiteral (non-empty)
  std::vector<int32_t> children;  // kSeq, kChoice; kRepeat: one child
  int32_t min = 0;                // kRepeat
  int32_t max = -1;               // kRepeat: -1 unbounded
  int32_t dfa = -1;               // kDfa: index into Grammar::dfas
};

class Grammar {
 public:
  int32_t add_class(const std::bitset<256>& bytes);
  int32_t add_byte(uint8_t byte);
  int32_t add_literal(std::string_view text);  // "" becomes an empty sequence
  int32_t add_seq(std::vector<int32_t> children);
  int32_t add_choice(std::vector<int32_t> children);
  int32_t add_repeat(int32_t child, int32_t min, int32_t max);
  int32_t add_dfa(Dfa dfa);
  // A placeholder for a node defined later (recursion): a one-child sequence set by `define`.
  int32_t add_forward();
  void define(int32_t forward, int32_t node);

  void set_root(int32_t root) { root_ = root; }
  int32_t root() const { return root_; }
  const Node& node(int32_t id) const { return nodes_[static_cast<size_t>(id)]; }
  const Dfa& dfa(int32_t id) const { return dfas_[static_cast<size_t>(id)]; }
  size_t num_nodes() const { return nodes_.size(); }

 private:
  std::vector<Node> nodes_;
  std::vector<Dfa> dfas_;
  int32_t root_ = -1;
};

// DFAs the compilers share.
// A JSON string's body (between the quotes): valid UTF-8 without `"`, `\` or control bytes, or
// JSON escapes; characters counted (an escape is one) between min_length and max_length (-1: no
// bound).
Dfa json_string_body_dfa(int min_length = 0, int max_length = -1);
// Any bytes up to and including the first `terminator`, never containing one of `forbidden`
// before it; `utf8`: the bytes before it are valid UTF-8.
Dfa until_dfa(std::string_view terminator, const std::vector<std::string>& forbidden, bool utf8);

}  // namespace mm::constraint
