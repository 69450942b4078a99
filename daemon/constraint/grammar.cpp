#include "daemon/constraint/grammar.h"

#include <map>
#include <stdexcept>
#include <utility>

namespace mm::constraint {

int Dfa::add_state(bool accept) {
  std::array<int16_t, 256> row{};
  row.fill(kDead);
  next.push_back(row);
  accepting.push_back(accept ? 1 : 0);
  if (next.size() > 30000) throw std::length_error("automaton over 30000 states");
  return static_cast<int>(next.size()) - 1;
}

void Dfa::finish() {
  has_next.assign(next.size(), 0);
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over the table
  auto mix = [&h](uint64_t v) {
    h ^= v;
    h *= 1099511628211ULL;
  };
  for (size_t s = 0; s < next.size(); ++s) {
    mix(accepting[s]);
    for (int16_t t : next[s]) {
      mix(static_cast<uint16_t>(t));
      if (t != kDead) has_next[s] = 1;
    }
  }
  fingerprint = h;
}

int32_t Grammar::add_class(const std::bitset<256>& bytes) {
  Node n;
  n.kind = NodeKind::kClass;
  n.bytes = bytes;
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

int32_t Grammar::add_byte(uint8_t byte) {
  std::bitset<256> bytes;
  bytes.set(byte);
  return add_class(bytes);
}

int32_t Grammar::add_literal(std::string_view text) {
  if (text.empty()) return add_seq({});
  Node n;
  n.kind = NodeKind::kLiteral;
  n.literal = std::string(text);
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

int32_t Grammar::add_seq(std::vector<int32_t> children) {
  if (children.size() == 1) return children[0];
  Node n;
  n.kind = NodeKind::kSeq;
  n.children = std::move(children);
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

int32_t Grammar::add_choice(std::vector<int32_t> children) {
  if (children.size() == 1) return children[0];
  Node n;
  n.kind = NodeKind::kChoice;
  n.children = std::move(children);
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

int32_t Grammar::add_repeat(int32_t child, int32_t min, int32_t max) {
  if (min == 1 && max == 1) return child;
  Node n;
  n.kind = NodeKind::kRepeat;
  n.children = {child};
  n.min = min;
  n.max = max;
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

int32_t Grammar::add_dfa(Dfa dfa) {
  dfa.finish();
  dfas_.push_back(std::move(dfa));
  Node n;
  n.kind = NodeKind::kDfa;
  n.dfa = static_cast<int32_t>(dfas_.size()) - 1;
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

int32_t Grammar::add_forward() {
  Node n;
  n.kind = NodeKind::kSeq;
  nodes_.push_back(std::move(n));
  return static_cast<int32_t>(nodes_.size()) - 1;
}

void Grammar::define(int32_t forward, int32_t node) {
  nodes_[static_cast<size_t>(forward)].children = {node};
}

namespace {

// UTF-8 sub-states shared by the string DFAs: 0 at a character boundary, else what the open
// character still needs (RFC 3629 table: no overlongs, no surrogates, nothing above U+10FFFF).
enum Utf8 : int {
  kBoundary = 0,
  kNeed1 = 2,
  kE0 = 3,
  kNeed2 = 4,
  kED = 5,
  kF0 = 6,
  kNeed3 = 7,
  kF4 = 8
};

// The sub-state after lead byte `b`, or -1 when it cannot start a multi-byte character.
int utf8_lead(int b) {
  if (b >= 0xC2 && b <= 0xDF) return kNeed1;
  if (b == 0xE0) return kE0;
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return kNeed2;
  if (b == 0xED) return kED;
  if (b == 0xF0) return kF0;
  if (b >= 0xF1 && b <= 0xF3) return kNeed3;
  if (b == 0xF4) return kF4;
  return -1;
}

// The sub-state after continuation byte `b` in sub-state `u`; -1 when invalid.
int utf8_continue(int u, int b) {
  const bool cont = b >= 0x80 && b <= 0xBF;
  switch (u) {
    case kNeed1:
      return cont ? kBoundary : -1;
    case kE0:
      return b >= 0xA0 && b <= 0xBF ? kNeed1 : -1;
    case kNeed2:
      return cont ? kNeed1 : -1;
    case kED:
      return b >= 0x80 && b <= 0x9F ? kNeed1 : -1;
    case kF0:
      return b >= 0x90 && b <= 0xBF ? kNeed2 : -1;
    case kNeed3:
      return cont ? kNeed2 : -1;
    case kF4:
      return b >= 0x80 && b <= 0x8F ? kNeed2 : -1;
    default:
      return -1;
  }
}

bool is_hex(int b) {
  return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

}  // namespace

Dfa json_string_body_dfa(int min_length, int max_length) {
  // Sub-states: the UTF-8 ones, 1 after a backslash, 9..12 with 4..1 hex digits of \u to go.
  constexpr int kSubs = 13;
  constexpr int kEscape = 1;
  constexpr int kHex4 = 9;
  // Counts saturate at the largest that matters: max_length, else min_length.
  const int top = max_length >= 0 ? max_length : min_length;
  Dfa dfa;
  for (int c = 0; c <= top; ++c) {
    for (int s = 0; s < kSubs; ++s)
      dfa.add_state(s == kBoundary && c >= min_length);
  }
  auto id = [&](int c, int s) { return static_cast<int16_t>(c * kSubs + s); };
  for (int c = 0; c <= top; ++c) {
    // A new character at count c is counted at once; past max_length none may start.
    const int counted = max_length >= 0 ? c + 1 : std::min(c + 1, top);
    const bool may_start = max_length < 0 || c < max_length;
    for (int b = 0; b < 256; ++b) {
      auto& row = dfa.next[static_cast<size_t>(id(c, kBoundary))];
      if (!may_start) break;
      if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
        row[static_cast<size_t>(b)] = id(counted, kBoundary);
      } else if (b == '\\') {
        row[static_cast<size_t>(b)] = id(counted, kEscape);
      } else if (const int u = utf8_lead(b); u >= 0) {
        row[static_cast<size_t>(b)] = id(counted, u);
      }
    }
    for (int b = 0; b < 256; ++b) {
      for (int u : {kNeed1, kE0, kNeed2, kED, kF0, kNeed3, kF4}) {
        if (const int next = utf8_continue(u, b); next >= 0)
          dfa.next[static_cast<size_t>(id(c, u))][static_cast<size_t>(b)] = id(c, next);
      }
      if (std::string_view("\"\\/bfnrt").find(static_cast<char>(b)) != std::string_view::npos)
        dfa.next[static_cast<size_t>(id(c, kEscape))][static_cast<size_t>(b)] = id(c, kBoundary);
      if (b == 'u')
        dfa.next[static_cast<size_t>(id(c, kEscape))][static_cast<size_t>(b)] = id(c, kHex4);
      if (is_hex(b)) {
        for (int h = kHex4; h < kHex4 + 4; ++h)
          dfa.next[static_cast<size_t>(id(c, h))][static_cast<size_t>(b)] =
              id(c, h == kHex4 + 3 ? kBoundary : h + 1);
      }
    }
  }
  return dfa;
}

Dfa until_dfa(std::string_view terminator, const std::vector<std::string>& forbidden, bool utf8) {
  // States: (longest suffix that is a prefix of a pattern, UTF-8 sub-state); plus the end.
  std::vector<std::string> patterns = forbidden;
  patterns.emplace_back(terminator);
  auto is_prefix = [&](std::string_view s) {
    for (const std::string& p : patterns) {
      if (std::string_view(p).substr(0, s.size()) == s) return true;
    }
    return false;
  };
  auto ends_with = [](std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
  };
  Dfa dfa;
  std::map<std::pair<std::string, int>, int> ids;
  std::vector<std::pair<std::string, int>> todo;
  auto state = [&](const std::string& prefix, int u) {
    auto [it, fresh] = ids.emplace(std::make_pair(prefix, u), 0);
    if (fresh) {
      it->second = dfa.add_state(false);
      todo.emplace_back(prefix, u);
    }
    return static_cast<int16_t>(it->second);
  };
  state("", kBoundary);
  const auto end = static_cast<int16_t>(dfa.add_state(true));
  for (size_t i = 0; i < todo.size(); ++i) {
    const auto [prefix, u] = todo[i];
    const int from = ids.at(todo[i]);
    for (int b = 0; b < 256; ++b) {
      int16_t to = Dfa::kDead;
      if (utf8 && u != kBoundary) {
        if (const int next = utf8_continue(u, b); next >= 0) to = state("", next);
      } else if (utf8 && b >= 0x80) {
        if (const int lead = utf8_lead(b); lead >= 0) to = state("", lead);
      } else {
        std::string text = prefix + static_cast<char>(b);
        bool bad = false;
        for (const std::string& f : forbidden)
          bad = bad || ends_with(text, f);
        if (bad) {
          to = Dfa::kDead;
        } else if (ends_with(text, terminator)) {
          to = end;
        } else {
          size_t cut = 0;
          while (!is_prefix(std::string_view(text).substr(cut)))
            ++cut;
          to = state(text.substr(cut), kBoundary);
        }
      }
      dfa.next[static_cast<size_t>(from)][static_cast<size_t>(b)] = to;
    }
  }
  return dfa;
}

}  // namespace mm::constraint
