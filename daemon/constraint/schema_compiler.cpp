// The JSON Schema and regex compilers (one file: the regex is a string keyword's sub-language).
#include "daemon/constraint/schema_compiler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "daemon/text/chat_request.h"

namespace mm::constraint {

using text::ChatRequestError;
using text::JsonValue;

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 200000;
constexpr int kMaxRepeat = 10000;
constexpr std::string_view kParamClose = "</parameter>";
// What MiniMax's tool-call parser reads as the end of a raw value (tool_call_parser.h): a raw
// string value never contains these before its `</parameter>`.
const std::vector<std::string> kRawForbidden = {"<parameter name=", "</invoke>",
                                                "</minimax:tool_call>"};

std::string dump(const JsonValue& v) {
  return v.dump(text::JsonDumpOptions::python_default());
}

std::bitset<256> ascii_range(int lo, int hi) {
  std::bitset<256> bits;
  for (int b = lo; b <= hi; ++b)
    bits.set(static_cast<size_t>(b));
  return bits;
}

// ---- regular expressions -------------------------------------------------------------------

// A set of characters: ASCII bytes plus, when `any_multibyte`, every non-ASCII character.
struct CharSet {
  std::bitset<128> ascii;
  bool any_multibyte = false;
  std::vector<std::string> multibyte;  // single non-ASCII characters (UTF-8)
};

class RegexCompiler {
 public:
  RegexCompiler(Grammar& g, std::string_view pattern, std::string where, bool json, bool search)
      : g_(g), p_(pattern), where_(std::move(where)), json_(json), search_(search) {}

  int32_t compile() {
    bool anchored_start = !search_;
    bool anchored_end = !search_;
    if (!p_.empty() && p_.front() == '^') {
      anchored_start = true;
      p_.remove_prefix(1);
    }
    if (!p_.empty() && p_.back() == '$' && (p_.size() < 2 || p_[p_.size() - 2] != '\\')) {
      anchored_end = true;
      p_.remove_suffix(1);
    }
    const int32_t body = alternation();
    if (i_ != p_.size()) fail("unexpected '" + std::string(1, p_[i_]) + "'");
    // JSON Schema's pattern searches: an unanchored end lets any text through.
    std::vector<int32_t> seq;
    if (!anchored_start) seq.push_back(g_.add_repeat(char_node(dot()), 0, -1));
    seq.push_back(body);
    if (!anchored_end) seq.push_back(g_.add_repeat(char_node(dot()), 0, -1));
    return g_.add_seq(std::move(seq));
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ChatRequestError(where_, "has a regular expression mmd cannot constrain to: " + what +
                                       " at offset " + std::to_string(i_));
  }
  bool more() const { return i_ < p_.size(); }
  char peek() const { return p_[i_]; }

  int32_t alternation() {
    std::vector<int32_t> options{concatenation()};
    while (more() && peek() == '|') {
      ++i_;
      options.push_back(concatenation());
    }
    return g_.add_choice(std::move(options));
  }

  int32_t concatenation() {
    std::vector<int32_t> seq;
    while (more() && peek() != '|' && peek() != ')')
      seq.push_back(quantified());
    return g_.add_seq(std::move(seq));
  }

  int read_number() {
    size_t start = i_;
    int value = 0;
    while (more() && peek() >= '0' && peek() <= '9') {
      value = value * 10 + (peek() - '0');
      if (value > kMaxRepeat) fail("a repeat count over " + std::to_string(kMaxRepeat));
      ++i_;
    }
    if (start == i_) fail("a repeat count expected");
    return value;
  }

  int32_t quantified() {
    const int32_t atom_node = atom();
    if (!more()) return atom_node;
    int lo = 1;
    int hi = 1;
    switch (peek()) {
      case '*':
        lo = 0, hi = -1, ++i_;
        break;
      case '+':
        lo = 1, hi = -1, ++i_;
        break;
      case '?':
        lo = 0, hi = 1, ++i_;
        break;
      case '{': {
        ++i_;
        lo = read_number();
        hi = lo;
        if (more() && peek() == ',') {
          ++i_;
          hi = more() && peek() == '}' ? -1 : read_number();
        }
        if (!more() || peek() != '}') fail("'}' expected");
        ++i_;
        if (hi >= 0 && hi < lo) fail("a repeat {n,m} with m < n");
        break;
      }
      default:
        return atom_node;
    }
    if (more() && peek() == '?') ++i_;  // lazy: the same language
    if (more() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{'))
      fail("a quantifier on a quantifier");
    return g_.add_repeat(atom_node, lo, hi);
  }

  int32_t atom() {
    const char c = peek();
    switch (c) {
      case '(': {
        ++i_;
        if (more() && peek() == '?') {
          if (i_ + 1 < p_.size() && p_[i_ + 1] == ':') {
            i_ += 2;
          } else {
            fail("lookaround and named groups");
          }
        }
        const int32_t inner = alternation();
        if (!more() || peek() != ')') fail("')' expected");
        ++i_;
        return inner;
      }
      case '[':
        return char_node(bracket());
      case '.':
        ++i_;
        return char_node(dot());
      case '\\':
        return char_node(escape());
      case '^':
      case '$':
        fail("anchors inside the expression");
      case '*':
      case '+':
      case '?':
      case '{':
        fail("a quantifier with nothing to repeat");
      default:
        return char_node(literal_char());
    }
  }

  CharSet literal_char() {
    const auto b = static_cast<unsigned char>(peek());
    CharSet set;
    if (b < 0x80) {
      set.ascii.set(b);
      ++i_;
      return set;
    }
    size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    if (i_ + len > p_.size()) fail("invalid UTF-8");
    set.multibyte.emplace_back(p_.substr(i_, len));
    i_ += len;
    return set;
  }

  static CharSet dot() {
    CharSet set;
    set.ascii = ~std::bitset<128>();
    set.ascii.reset('\n');
    set.any_multibyte = true;
    return set;
  }

  static CharSet digits() {
    CharSet s;
    for (int b = '0'; b <= '9'; ++b)
      s.ascii.set(static_cast<size_t>(b));
    return s;
  }
  static CharSet word() {
    CharSet s = digits();
    for (int b = 'a'; b <= 'z'; ++b)
      s.ascii.set(static_cast<size_t>(b));
    for (int b = 'A'; b <= 'Z'; ++b)
      s.ascii.set(static_cast<size_t>(b));
    s.ascii.set('_');
    return s;
  }
  static CharSet space() {
    CharSet s;
    for (char b : std::string_view(" \t\n\r\f\v"))
      s.ascii.set(static_cast<size_t>(b));
    return s;
  }
  static CharSet complement(CharSet s) {
    s.ascii = ~s.ascii;
    s.any_multibyte = true;
    return s;
  }

  // After a backslash (i_ at the backslash).
  CharSet escape() {
    ++i_;
    if (!more()) fail("a trailing backslash");
    const char c = peek();
    ++i_;
    CharSet s;
    switch (c) {
      case 'd':
        return digits();
      case 'D':
        return complement(digits());
      case 'w':
        return word();
      case 'W':
        return complement(word());
      case 's':
        return space();
      case 'S':
        return complement(space());
      case 'n':
        s.ascii.set('\n');
        return s;
      case 't':
        s.ascii.set('\t');
        return s;
      case 'r':
        s.ascii.set('\r');
        return s;
      case 'f':
        s.ascii.set('\f');
        return s;
      case 'v':
        s.ascii.set('\v');
        return s;
      case 'u': {
        if (i_ + 4 > p_.size() ||
            p_.substr(i_, 4).find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
          fail("\\u needs 4 hex digits");
        const unsigned long cp = std::stoul(std::string(p_.substr(i_, 4)), nullptr, 16);
        i_ += 4;
        if (cp < 0x80) {
          s.ascii.set(cp);
        } else {
          std::string utf8;
          if (cp < 0x800) {
            utf8 += static_cast<char>(0xC0 | (cp >> 6));
          } else {
            utf8 += static_cast<char>(0xE0 | (cp >> 12));
            utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          }
          utf8 += static_cast<char>(0x80 | (cp & 0x3F));
          s.multibyte.push_back(utf8);
        }
        return s;
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
          fail(std::string("the escape \\") + c);
        // A backslash before a non-ASCII byte (found by fuzz_schema_compiler): no escape.
        if (static_cast<unsigned char>(c) >= 0x80) fail("a backslash before a non-ASCII character");
        s.ascii.set(static_cast<unsigned char>(c));
        return s;
    }
  }

  CharSet bracket() {
    ++i_;  // '['
    bool negate = false;
    if (more() && peek() == '^') {
      negate = true;
      ++i_;
    }
    CharSet set;
    bool first = true;
    while (more() && (peek() != ']' || first)) {
      first = false;
      CharSet item;
      if (peek() == '\\') {
        item = escape();
      } else if (static_cast<unsigned char>(peek()) >= 0x80) {
        item = literal_char();
      } else {
        item.ascii.set(static_cast<unsigned char>(peek()));
        ++i_;
      }
      // A range a-z (ASCII only).
      if (i_ + 1 < p_.size() && peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        int lo = -1;
        for (int b = 0; b < 128; ++b) {
          if (item.ascii.test(static_cast<size_t>(b)) && item.ascii.count() == 1) lo = b;
        }
        int hi = static_cast<unsigned char>(peek());
        if (hi == '\\') {
          CharSet end = escape();
          hi = -1;
          for (int b = 0; b < 128; ++b) {
            if (end.ascii.test(static_cast<size_t>(b)) && end.ascii.count() == 1) hi = b;
          }
        } else {
          ++i_;
        }
        if (lo < 0 || hi < 0 || hi >= 0x80) fail("a character range outside ASCII");
        if (hi < lo) fail("a character range with its ends reversed");
        for (int b = lo; b <= hi; ++b)
          item.ascii.set(static_cast<size_t>(b));
      }
      set.ascii |= item.ascii;
      set.any_multibyte = set.any_multibyte || item.any_multibyte;
      set.multibyte.insert(set.multibyte.end(), item.multibyte.begin(), item.multibyte.end());
    }
    if (!more()) fail("']' expected");
    ++i_;
    if (negate) {
      if (!set.multibyte.empty()) fail("a negated class listing non-ASCII characters");
      set = complement(set);
    }
    return set;
  }

  // The grammar of one character of `set`, written as JSON string text or raw.
  int32_t char_node(const CharSet& set) {
    std::vector<int32_t> options;
    std::bitset<256> plain;
    for (int b = 0; b < 128; ++b) {
      if (!set.ascii.test(static_cast<size_t>(b))) continue;
      // Raw text takes every byte; a JSON string's body takes the printable ones as they are.
      const bool as_is = !json_ || (b >= 0x20 && b != '"' && b != '\\');
      if (as_is) {
        plain.set(static_cast<size_t>(b));
      } else if (b == '"' || b == '\\') {
        options.push_back(g_.add_literal(std::string("\\") + static_cast<char>(b)));
      } else if (b == '\n') {
        options.push_back(g_.add_literal("\\n"));
      } else if (b == '\t') {
        options.push_back(g_.add_literal("\\t"));
      }  // other control characters are left out (a subset is still a match)
    }
    if (plain.any()) options.push_back(g_.add_class(plain));
    for (const std::string& mb : set.multibyte)
      options.push_back(g_.add_literal(mb));
    if (set.any_multibyte) options.push_back(multibyte_char());
    if (options.empty()) fail("a class that matches no character");
    return g_.add_choice(std::move(options));
  }

  int32_t multibyte_char() {
    if (multibyte_ >= 0) return multibyte_;
    auto cls = [&](int lo, int hi) { return g_.add_class(ascii_range(lo, hi)); };
    const int32_t cont = cls(0x80, 0xBF);
    multibyte_ = g_.add_choice({
        g_.add_seq({cls(0xC2, 0xDF), cont}),
        g_.add_seq({cls(0xE0, 0xE0), cls(0xA0, 0xBF), cont}),
        g_.add_seq({cls(0xE1, 0xEC), cont, cont}),
        g_.add_seq({cls(0xED, 0xED), cls(0x80, 0x9F), cont}),
        g_.add_seq({cls(0xEE, 0xEF), cont, cont}),
        g_.add_seq({cls(0xF0, 0xF0), cls(0x90, 0xBF), cont, cont}),
        g_.add_seq({cls(0xF1, 0xF3), cont, cont, cont}),
        g_.add_seq({cls(0xF4, 0xF4), cls(0x80, 0x8F), cont, cont}),
    });
    return multibyte_;
  }

  Grammar& g_;
  std::string_view p_;
  std::string where_;
  bool json_;
  bool search_;
  size_t i_ = 0;
  int32_t multibyte_ = -1;
};

// ---- integers in a range -------------------------------------------------------------------

// Decimal strings of the same length from `lo` to `hi` (lo <= hi).
int32_t same_length_range(Grammar& g, const std::string& lo, const std::string& hi) {
  if (lo.empty()) return g.add_seq({});
  if (lo == hi) return g.add_literal(lo);
  if (lo[0] == hi[0])
    return g.add_seq(
        {g.add_literal(lo.substr(0, 1)), same_length_range(g, lo.substr(1), hi.substr(1))});
  const size_t rest = lo.size() - 1;
  const std::string zeros(rest, '0');
  const std::string nines(rest, '9');
  auto digits_class = [&](char a, char b) { return g.add_class(ascii_range(a, b)); };
  auto any_digits = [&] {
    return g.add_repeat(digits_class('0', '9'), static_cast<int32_t>(rest),
                        static_cast<int32_t>(rest));
  };
  if (lo.substr(1) == zeros && hi.substr(1) == nines)
    return rest == 0 ? digits_class(lo[0], hi[0])
                     : g.add_seq({digits_class(lo[0], hi[0]), any_digits()});
  std::vector<int32_t> options;
  options.push_back(
      g.add_seq({g.add_literal(lo.substr(0, 1)), same_length_range(g, lo.substr(1), nines)}));
  if (hi[0] - lo[0] > 1) {
    const auto a = static_cast<char>(lo[0] + 1);
    const auto b = static_cast<char>(hi[0] - 1);
    options.push_back(rest == 0 ? digits_class(a, b)
                                : g.add_seq({digits_class(a, b), any_digits()}));
  }
  options.push_back(
      g.add_seq({g.add_literal(hi.substr(0, 1)), same_length_range(g, zeros, hi.substr(1))}));
  return g.add_choice(std::move(options));
}

// Non-negative integers from lo to hi, without leading zeros.
int32_t unsigned_range(Grammar& g, uint64_t lo, uint64_t hi) {
  std::vector<int32_t> options;
  uint64_t start = lo;
  while (start <= hi) {
    const size_t digits = std::to_string(start).size();
    uint64_t top = 9;
    for (size_t i = 1; i < digits; ++i)
      top = top * 10 + 9;
    const uint64_t end = std::min(hi, top);
    options.push_back(same_length_range(g, std::to_string(start), std::to_string(end)));
    if (end == hi || end == std::numeric_limits<uint64_t>::max()) break;
    start = end + 1;
  }
  return g.add_choice(std::move(options));
}

// Integers from lo to hi (inclusive).
int32_t integer_range(Grammar& g, int64_t lo, int64_t hi) {
  std::vector<int32_t> options;
  if (lo < 0) {
    const uint64_t neg_hi = static_cast<uint64_t>(-(lo + 1)) + 1;  // |lo| without overflow
    const uint64_t neg_lo = hi < 0 ? static_cast<uint64_t>(-(hi + 1)) + 1 : 1;
    options.push_back(g.add_seq({g.add_literal("-"), unsigned_range(g, neg_lo, neg_hi)}));
  }
  if (hi >= 0)
    options.push_back(unsigned_range(g, static_cast<uint64_t>(std::max<int64_t>(lo, 0)),
                                     static_cast<uint64_t>(hi)));
  return g.add_choice(std::move(options));
}

// ---- the schema compiler -------------------------------------------------------------------

const std::set<std::string, std::less<>> kIgnored = {
    "description",     "title",  "examples",   "default",  "$schema",   "$id",
    "$comment",        "format", "deprecated", "readOnly", "writeOnly", "contentMediaType",
    "contentEncoding", "$defs",  "definitions"};
const std::set<std::string, std::less<>> kSupported = {"type",
                                                       "properties",
                                                       "required",
                                                       "additionalProperties",
                                                       "items",
                                                       "prefixItems",
                                                       "minItems",
                                                       "maxItems",
                                                       "enum",
                                                       "const",
                                                       "pattern",
                                                       "minLength",
                                                       "maxLength",
                                                       "minimum",
                                                       "maximum",
                                                       "exclusiveMinimum",
                                                       "exclusiveMaximum",
                                                       "anyOf",
                                                       "oneOf",
                                                       "allOf",
                                                       "$ref"};

class SchemaCompiler {
 public:
  SchemaCompiler(Grammar& g, const JsonValue& root, std::string where)
      : g_(g), root_(root), where_(std::move(where)) {}

  int32_t value(const JsonValue& schema, const std::string& path, ValueMode mode, int depth) {
    if (depth > kMaxDepth) throw ChatRequestError(path, "is nested more than 64 levels deep");
    if (g_.num_nodes() > kMaxNodes) throw ChatRequestError(path, "makes the grammar too large");
    if (schema.is_bool()) {
      if (!schema.as_bool()) throw ChatRequestError(path, "is false: no value can match it");
      return end(any(), mode);
    }
    if (!schema.is_object()) throw ChatRequestError(path, "must be a JSON Schema object");
    std::vector<std::string> constraining;
    for (const auto& [key, v] : schema.as_object()) {
      if (kIgnored.contains(key)) continue;
      if (!kSupported.contains(key))
        throw ChatRequestError(path + "." + key,
                               "is a JSON Schema keyword mmd's constrained decoding does not "
                               "support (see mmd(8), CONSTRAINED DECODING)");
      constraining.push_back(key);
    }
    auto has = [&](std::string_view k) {
      return std::find(constraining.begin(), constraining.end(), k) != constraining.end();
    };
    auto only = [&](std::string_view k) {
      for (const std::string& other : constraining) {
        if (other != k)
          throw ChatRequestError(path + "." + other,
                                 "beside '" + std::string(k) + "' is not supported");
      }
    };
    if (has("$ref")) {
      only("$ref");
      return reference(*schema.find("$ref"), path + ".$ref", mode, depth);
    }
    for (const char* key : {"anyOf", "oneOf", "allOf"}) {
      if (!has(key)) continue;
      only(key);
      const JsonValue& list = *schema.find(key);
      const std::string at = path + "." + key;
      if (!list.is_array() || list.as_array().empty())
        throw ChatRequestError(at, "must be a non-empty array of schemas");
      if (std::string_view(key) == "allOf" && list.as_array().size() != 1)
        throw ChatRequestError(at, "with more than one schema is not supported");
      std::vector<int32_t> options;
      for (size_t i = 0; i < list.as_array().size(); ++i)
        options.push_back(
            value(list.as_array()[i], at + "[" + std::to_string(i) + "]", mode, depth + 1));
      return g_.add_choice(std::move(options));
    }
    if (const JsonValue* c = schema.find("const")) return end(literal_value(*c, mode), mode);
    if (const JsonValue* e = schema.find("enum")) {
      if (!e->is_array() || e->as_array().empty())
        throw ChatRequestError(path + ".enum", "must be a non-empty array");
      std::vector<int32_t> options;
      for (const JsonValue& v : e->as_array())
        options.push_back(end(literal_value(v, mode), mode));
      return g_.add_choice(std::move(options));
    }
    std::vector<std::string> types;
    if (const JsonValue* t = schema.find("type")) {
      if (t->is_string()) {
        types.push_back(t->as_string());
      } else if (t->is_array() && !t->as_array().empty()) {
        for (const JsonValue& item : t->as_array()) {
          if (!item.is_string()) throw ChatRequestError(path + ".type", "must list type names");
          types.push_back(item.as_string());
        }
      } else {
        throw ChatRequestError(path + ".type", "must be a type name or a non-empty array of them");
      }
    } else if (has("properties") || has("required") || has("additionalProperties")) {
      types = {"object"};
    } else if (has("items") || has("prefixItems") || has("minItems") || has("maxItems")) {
      types = {"array"};
    } else if (has("pattern") || has("minLength") || has("maxLength")) {
      types = {"string"};
    } else if (has("minimum") || has("maximum") || has("exclusiveMinimum") ||
               has("exclusiveMaximum")) {
      types = {"number"};
    } else {
      return end(any(), mode);
    }
    std::vector<int32_t> options;
    options.reserve(types.size());
    for (const std::string& type : types)
      options.push_back(typed(schema, type, path, mode, depth));
    return g_.add_choice(std::move(options));
  }

  int32_t any() {
    if (any_ >= 0) return any_;
    any_ = g_.add_forward();
    const int32_t object = any_object();
    const int32_t array = g_.add_seq(
        {g_.add_literal("["),
         g_.add_repeat(
             g_.add_seq({any_, g_.add_repeat(g_.add_seq({g_.add_literal(", "), any_}), 0, -1)}), 0,
             1),
         g_.add_literal("]")});
    g_.define(any_, g_.add_choice({object, array, json_string(0, -1),
                                   number(std::nullopt, std::nullopt, false, false),
                                   g_.add_literal("true"), g_.add_literal("false"),
                                   g_.add_literal("null")}));
    return any_;
  }

  int32_t any_object() {
    if (any_object_ >= 0) return any_object_;
    if (any_ < 0) any();
    any_object_ = map_object(any_);
    return any_object_;
  }

 private:
  // In a tool parameter, every value is ended by `</parameter>`.
  int32_t end(int32_t node, ValueMode mode) {
    return mode == ValueMode::kToolParameter ? g_.add_seq({node, g_.add_literal(kParamClose)})
                                             : node;
  }

  int32_t literal_value(const JsonValue& v, ValueMode mode) {
    if (mode == ValueMode::kToolParameter && v.is_string()) return g_.add_literal(v.as_string());
    return g_.add_literal(dump(v));
  }

  int32_t json_string(int min_length, int max_length) {
    const auto key = std::make_pair(min_length, max_length);
    if (auto it = bodies_.find(key); it != bodies_.end()) return it->second;
    const int32_t node =
        g_.add_seq({g_.add_literal("\""), g_.add_dfa(json_string_body_dfa(min_length, max_length)),
                    g_.add_literal("\"")});
    bodies_.emplace(key, node);
    return node;
  }

  int32_t map_object(int32_t value_node) {
    const int32_t entry = g_.add_seq({json_string(0, -1), g_.add_literal(": "), value_node});
    return g_.add_seq(
        {g_.add_literal("{"),
         g_.add_repeat(
             g_.add_seq({entry, g_.add_repeat(g_.add_seq({g_.add_literal(", "), entry}), 0, -1)}),
             0, 1),
         g_.add_literal("}")});
  }

  static std::optional<double> number_keyword(const JsonValue& schema, const char* key,
                                              const std::string& path) {
    const JsonValue* v = schema.find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) throw ChatRequestError(path + "." + key, "must be a number");
    return v->as_number();
  }

  static int length_keyword(const JsonValue& schema, const char* key, const std::string& path,
                            int fallback, int limit) {
    const JsonValue* v = schema.find(key);
    if (v == nullptr) return fallback;
    if (!v->is_int() || v->as_int() < 0)
      throw ChatRequestError(path + "." + key, "must be a non-negative integer");
    if (v->as_int() > limit)
      throw ChatRequestError(path + "." + key,
                             "over " + std::to_string(limit) + " is not supported");
    return static_cast<int>(v->as_int());
  }

  // Bounds as integers: [lo, hi] with exclusive bounds moved inward; fractional bounds rounded
  // inward too (a subset of the valid values is still valid).
  static std::pair<std::optional<int64_t>, std::optional<int64_t>> int_bounds(
      const JsonValue& schema, const std::string& path) {
    std::optional<int64_t> lo;
    std::optional<int64_t> hi;
    constexpr double kLimit = 9.0e15;
    auto clamp = [&](double v, const char* key) {
      if (!std::isfinite(v) || std::fabs(v) > kLimit)
        throw ChatRequestError(path + "." + key, "beyond 9e15 is not supported");
      return v;
    };
    if (auto v = number_keyword(schema, "minimum", path))
      lo = static_cast<int64_t>(std::ceil(clamp(*v, "minimum")));
    if (auto v = number_keyword(schema, "exclusiveMinimum", path)) {
      const auto b = static_cast<int64_t>(std::floor(clamp(*v, "exclusiveMinimum"))) + 1;
      lo = lo ? std::max(*lo, b) : b;
    }
    if (auto v = number_keyword(schema, "maximum", path))
      hi = static_cast<int64_t>(std::floor(clamp(*v, "maximum")));
    if (auto v = number_keyword(schema, "exclusiveMaximum", path)) {
      const auto b = static_cast<int64_t>(std::ceil(clamp(*v, "exclusiveMaximum"))) - 1;
      hi = hi ? std::min(*hi, b) : b;
    }
    if (lo && hi && *lo > *hi) throw ChatRequestError(path, "has bounds no integer satisfies");
    return {lo, hi};
  }

  // Up to 16 digits: unbounded integers stay within what every JSON reader keeps exact.
  int32_t integer(std::optional<int64_t> lo, std::optional<int64_t> hi) {
    constexpr int64_t kMax = 999999999999999;  // 15 digits
    return integer_range(g_, lo.value_or(-kMax), hi.value_or(kMax));
  }

  // A number: an integer in bounds, or (bounded or not negative) one with a fraction.
  int32_t number(std::optional<int64_t> lo, std::optional<int64_t> hi, bool lo_exclusive,
                 bool hi_exclusive) {
    (void)lo_exclusive, (void)hi_exclusive;
    const int32_t whole = integer(lo, hi);
    const int32_t fraction =
        g_.add_seq({g_.add_literal("."), g_.add_repeat(g_.add_class(ascii_range('0', '9')), 0, 5),
                    g_.add_class(ascii_range('1', '9'))});
    if (!lo && !hi) {
      const int32_t exponent = g_.add_seq(
          {g_.add_class(ascii_range('e', 'e') | ascii_range('E', 'E')),
           g_.add_repeat(g_.add_class(ascii_range('+', '+') | ascii_range('-', '-')), 0, 1),
           g_.add_repeat(g_.add_class(ascii_range('0', '9')), 1, 2)});
      return g_.add_seq({whole, g_.add_repeat(fraction, 0, 1), g_.add_repeat(exponent, 0, 1)});
    }
    // i.f lies in (i, i + 1): with i from max(lo, 0) to hi - 1 it is within [lo, hi] (and above
    // an exclusive lo, below an exclusive hi, which int_bounds moved inward by one already).
    const int64_t f_lo = std::max<int64_t>(lo.value_or(0), 0);
    const int64_t f_hi = hi ? *hi - 1 : 999999999999999;
    if (f_lo > f_hi) return whole;
    return g_.add_choice({whole, g_.add_seq({integer_range(g_, f_lo, f_hi), fraction})});
  }

  int32_t typed(const JsonValue& schema, const std::string& type, const std::string& path,
                ValueMode mode, int depth) {
    if (type == "string") return string(schema, path, mode);
    if (type == "null") return end(g_.add_literal("null"), mode);
    if (type == "boolean")
      return end(g_.add_choice({g_.add_literal("true"), g_.add_literal("false")}), mode);
    if (type == "integer") {
      const auto [lo, hi] = int_bounds(schema, path);
      return end(integer(lo, hi), mode);
    }
    if (type == "number") {
      const auto [lo, hi] = int_bounds(schema, path);
      return end(number(lo, hi, false, false), mode);
    }
    if (type == "array") return end(array(schema, path, depth), mode);
    if (type == "object") return end(object(schema, path, depth), mode);
    throw ChatRequestError(path + ".type", "names an unknown type '" + type + "'");
  }

  int32_t string(const JsonValue& schema, const std::string& path, ValueMode mode) {
    const bool raw = mode == ValueMode::kToolParameter;
    const JsonValue* pattern = schema.find("pattern");
    const int min_length = length_keyword(schema, "minLength", path, 0, 2000);
    const int max_length = length_keyword(schema, "maxLength", path, -1, 2000);
    if (max_length >= 0 && max_length < min_length)
      throw ChatRequestError(path + ".maxLength", "is below minLength");
    if (pattern != nullptr) {
      if (!pattern->is_string()) throw ChatRequestError(path + ".pattern", "must be a string");
      if (schema.find("minLength") != nullptr || schema.find("maxLength") != nullptr)
        throw ChatRequestError(path + ".pattern",
                               "together with minLength or maxLength is not supported");
      const int32_t body = compile_regex(g_, pattern->as_string(), path + ".pattern", !raw, true);
      return raw ? g_.add_seq({body, g_.add_literal(kParamClose)})
                 : g_.add_seq({g_.add_literal("\""), body, g_.add_literal("\"")});
    }
    if (!raw) return json_string(min_length, max_length);
    if (min_length == 0 && max_length < 0)
      return g_.add_dfa(until_dfa(kParamClose, kRawForbidden, true));
    // Counted raw text: no '<' (so no tag can appear) and no escapes.
    Dfa counted = json_string_body_dfa(min_length, max_length);
    for (auto& row : counted.next) {
      row['<'] = Dfa::kDead;
      row['\\'] = Dfa::kDead;
    }
    return g_.add_seq({g_.add_dfa(std::move(counted)), g_.add_literal(kParamClose)});
  }

  int32_t array(const JsonValue& schema, const std::string& path, int depth) {
    const int min_items = length_keyword(schema, "minItems", path, 0, kMaxRepeat);
    const int max_items = length_keyword(schema, "maxItems", path, -1, kMaxRepeat);
    if (max_items >= 0 && max_items < min_items)
      throw ChatRequestError(path + ".maxItems", "is below minItems");
    const int32_t open = g_.add_literal("[");
    const int32_t close = g_.add_literal("]");
    if (const JsonValue* prefix = schema.find("prefixItems")) {
      if (!prefix->is_array()) throw ChatRequestError(path + ".prefixItems", "must be an array");
      const JsonValue* items = schema.find("items");
      if (items != nullptr && !(items->is_bool() && !items->as_bool()))
        throw ChatRequestError(path + ".items", "beside prefixItems must be false");
      std::vector<int32_t> seq{open};
      for (size_t i = 0; i < prefix->as_array().size(); ++i) {
        if (i > 0) seq.push_back(g_.add_literal(", "));
        seq.push_back(value(prefix->as_array()[i], path + ".prefixItems[" + std::to_string(i) + "]",
                            ValueMode::kJson, depth + 1));
      }
      seq.push_back(close);
      return g_.add_seq(std::move(seq));
    }
    const JsonValue* items = schema.find("items");
    const int32_t item =
        items != nullptr ? value(*items, path + ".items", ValueMode::kJson, depth + 1) : any();
    if (max_items == 0) return g_.add_seq({open, close});
    const int32_t more =
        g_.add_repeat(g_.add_seq({g_.add_literal(", "), item}), std::max(min_items - 1, 0),
                      max_items < 0 ? -1 : max_items - 1);
    const int32_t list = g_.add_seq({item, more});
    return g_.add_seq({open, min_items == 0 ? g_.add_repeat(list, 0, 1) : list, close});
  }

  int32_t object(const JsonValue& schema, const std::string& path, int depth) {
    const JsonValue* properties = schema.find("properties");
    if (properties != nullptr && !properties->is_object())
      throw ChatRequestError(path + ".properties", "must be an object");
    std::vector<std::string> required;
    if (const JsonValue* r = schema.find("required")) {
      if (!r->is_array()) throw ChatRequestError(path + ".required", "must be an array of names");
      for (const JsonValue& name : r->as_array()) {
        if (!name.is_string())
          throw ChatRequestError(path + ".required", "must be an array of names");
        required.push_back(name.as_string());
      }
    }
    const JsonValue* additional = schema.find("additionalProperties");
    if (additional != nullptr && !additional->is_bool() && !additional->is_object())
      throw ChatRequestError(path + ".additionalProperties", "must be a boolean or a schema");
    std::vector<std::pair<int32_t, bool>> members;  // (node of `"key": value`, required)
    std::set<std::string> declared;
    auto member = [&](const std::string& key, const JsonValue& sub, const std::string& at) {
      std::string quoted;
      text::append_json_string(key, false, quoted);
      const bool is_required = std::find(required.begin(), required.end(), key) != required.end();
      members.emplace_back(
          g_.add_seq({g_.add_literal(quoted + ": "), value(sub, at, ValueMode::kJson, depth + 1)}),
          is_required);
      declared.insert(key);
    };
    if (properties != nullptr) {
      for (const auto& [key, sub] : properties->as_object())
        member(key, sub, path + ".properties." + key);
    }
    for (const std::string& key : required) {
      if (declared.contains(key)) continue;
      if (additional != nullptr && additional->is_bool() && !additional->as_bool())
        throw ChatRequestError(path + ".required",
                               "names '" + key + "', which additionalProperties false forbids");
      member(key, additional != nullptr && additional->is_object() ? *additional : JsonValue(true),
             path + ".required");
    }
    if (members.empty()) {
      // No declared members: any members the additionalProperties schema allows.
      if (additional != nullptr && additional->is_bool() && !additional->as_bool())
        return g_.add_literal("{}");
      if (additional != nullptr && additional->is_object())
        return map_object(
            value(*additional, path + ".additionalProperties", ValueMode::kJson, depth + 1));
      return any_object();
    }
    // Members in the declared order; optional ones may be left out. rest[k]: members k.. after
    // at least one was written (each with its ", ").
    const size_t n = members.size();
    std::vector<int32_t> rest(n + 1);
    rest[n] = g_.add_seq({});
    for (size_t k = n; k-- > 0;) {
      const int32_t with_comma = g_.add_seq({g_.add_literal(", "), members[k].first});
      rest[k] = g_.add_seq(
          {members[k].second ? with_comma : g_.add_repeat(with_comma, 0, 1), rest[k + 1]});
    }
    std::vector<int32_t> first;
    bool any_required = false;
    for (size_t i = 0; i < n; ++i) {
      first.push_back(g_.add_seq({members[i].first, rest[i + 1]}));
      if (members[i].second) {
        any_required = true;
        break;
      }
    }
    if (!any_required) first.push_back(g_.add_seq({}));
    return g_.add_seq({g_.add_literal("{"), g_.add_choice(std::move(first)), g_.add_literal("}")});
  }

  int32_t reference(const JsonValue& ref, const std::string& path, ValueMode mode, int depth) {
    if (!ref.is_string() || ref.as_string().empty() || ref.as_string()[0] != '#')
      throw ChatRequestError(path, "must be a local reference ('#', '#/$defs/Name')");
    const std::string& pointer = ref.as_string();
    const auto key = std::make_pair(pointer, mode);
    if (auto it = refs_.find(key); it != refs_.end()) return it->second;
    // Resolve the JSON pointer inside the root schema.
    const JsonValue* target = &root_;
    std::string_view rest = std::string_view(pointer).substr(1);
    while (!rest.empty()) {
      if (rest[0] != '/') throw ChatRequestError(path, "is not a JSON pointer");
      rest.remove_prefix(1);
      const size_t slash = rest.find('/');
      std::string token(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      for (size_t at = token.find('~'); at != std::string::npos; at = token.find('~', at + 1))
        token.replace(at, 2, token.compare(at, 2, "~1") == 0 ? "/" : "~");
      const JsonValue* next = nullptr;
      if (target->is_object()) {
        next = target->find(token);
      } else if (target->is_array() && !token.empty() &&
                 token.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoul(token) < target->as_array().size()) {
        next = &target->as_array()[std::stoul(token)];
      }
      if (next == nullptr) throw ChatRequestError(path, "points to nothing ('" + pointer + "')");
      target = next;
    }
    const int32_t forward = g_.add_forward();
    refs_.emplace(key, forward);
    g_.define(forward, value(*target, where_ + pointer.substr(1), mode, depth + 1));
    return forward;
  }

  Grammar& g_;
  const JsonValue& root_;
  std::string where_;
  int32_t any_ = -1;
  int32_t any_object_ = -1;
  std::map<std::pair<int, int>, int32_t> bodies_;
  std::map<std::pair<std::string, ValueMode>, int32_t> refs_;
};

}  // namespace

int32_t compile_schema(Grammar& grammar, const JsonValue& schema, const std::string& where,
                       ValueMode mode, const JsonValue* root, const std::string& root_where) {
  SchemaCompiler compiler(grammar, root != nullptr ? *root : schema,
                          root != nullptr ? root_where : where);
  return compiler.value(schema, where, mode, 0);
}

int32_t compile_any_json(Grammar& grammar, bool object_only) {
  const JsonValue empty(text::JsonObject{});
  SchemaCompiler compiler(grammar, empty, "");
  return object_only ? compiler.any_object() : compiler.any();
}

int32_t compile_regex(Grammar& grammar, std::string_view pattern, const std::string& where,
                      bool json_string, bool search) {
  if (pattern.size() > 4096) throw ChatRequestError(where, "is longer than 4096 bytes");
  RegexCompiler compiler(grammar, pattern, where, json_string, search);
  return compiler.compile();
}

}  // namespace mm::constraint
