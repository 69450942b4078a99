#include "daemon/text/json_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "daemon/text/error.h"
#include "daemon/text/utf8.h"

namespace mm::text {

JsonDumpOptions JsonDumpOptions::python_default(std::optional<int> indent) {
  JsonDumpOptions options;
  options.indent = indent;
  options.item_separator = indent ? "," : ", ";
  return options;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  const JsonObject& members = as_object();
  for (auto it = members.rbegin(); it != members.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

bool JsonValue::operator==(const JsonValue& other) const {
  if (is_number() || is_bool()) {
    if (!(other.is_number() || other.is_bool())) return false;
    auto num = [](const JsonValue& v) {
      return v.is_bool() ? (v.as_bool() ? 1.0 : 0.0) : v.as_number();
    };
    if ((is_int() || is_bool()) && (other.is_int() || other.is_bool())) {
      auto i = [](const JsonValue& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); };
      return i(*this) == i(other);
    }
    return num(*this) == num(other);
  }
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::kNull:
      return true;
    case Type::kString:
      return as_string() == other.as_string();
    case Type::kArray:
      return as_array() == other.as_array();
    case Type::kObject: {
      if (as_object().size() != other.as_object().size()) return false;
      for (const auto& [key, value] : as_object()) {
        const JsonValue* theirs = other.find(key);
        if (theirs == nullptr || !(*theirs == value)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  char buffer[64];
  auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  // sci = [-]d[.ddd]e[+-]XX
  const bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof(exp), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp;
  }
  if (exponent < 0) {
    return out + "0." + std::string(static_cast<size_t>(-(exponent + 1)), '0') + digits;
  }
  const size_t int_len = static_cast<size_t>(exponent) + 1;  // exponent >= 0 here
  if (digits.size() <= int_len) {
    return out + digits + std::string(int_len - digits.size(), '0') + ".0";
  }
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

void append_json_string(std::string_view text, bool ensure_ascii, std::string& out) {
  out.push_back('"');
  size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    char esc[16];
    switch (c) {
      case '"':
        out += "\\\"";
        ++pos;
        continue;
      case '\\':
        out += "\\\\";
        ++pos;
        continue;
      case '\n':
        out += "\\n";
        ++pos;
        continue;
      case '\r':
        out += "\\r";
        ++pos;
        continue;
      case '\t':
        out += "\\t";
        ++pos;
        continue;
      case '\b':
        out += "\\b";
        ++pos;
        continue;
      case '\f':
        out += "\\f";
        ++pos;
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      std::snprintf(esc, sizeof(esc), "\\u%04x", c);
      out += esc;
      ++pos;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++pos;
      continue;
    }
    size_t len = valid_sequence_length(text, pos);
    if (len == 0) {  // invalid byte: written as U+FFFD (Python strings cannot hold it)
      if (ensure_ascii) {
        out += "\\ufffd";
      } else {
        out += kReplacementChar;
      }
      pos += invalid_subpart_length(text, pos);
      continue;
    }
    if (!ensure_ascii) {
      out.append(text.substr(pos, len));
    } else {
      uint32_t cp = decode_code_point(text, pos, len);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                      0xDC00 + (cp & 0x3FF));
      } else {
        std::snprintf(esc, sizeof(esc), "\\u%04x", cp);
      }
      out += esc;
    }
    pos += len;
  }
  out.push_back('"');
}

namespace {

void dump_to(const JsonValue& value, const JsonDumpOptions& options, int depth, std::string& out) {
  auto newline = [&](int level) {
    if (!options.indent) return;
    out.push_back('\n');
    out.append(static_cast<size_t>(std::max(0, *options.indent)) * static_cast<size_t>(level), ' ');
  };
  switch (value.type()) {
    case JsonValue::Type::kNull:
      out += "null";
      return;
    case JsonValue::Type::kBool:
      out += value.as_bool() ? "true" : "false";
      return;
    case JsonValue::Type::kInt:
      out += std::to_string(value.as_int());
      return;
    case JsonValue::Type::kFloat: {
      const double f = value.as_float();
      if (std::isnan(f)) {
        out += "NaN";
      } else if (std::isinf(f)) {
        out += f > 0 ? "Infinity" : "-Infinity";
      } else {
        out += python_float_repr(f);
      }
      return;
    }
    case JsonValue::Type::kString:
      append_json_string(value.as_string(), options.ensure_ascii, out);
      return;
    case JsonValue::Type::kArray: {
      const JsonArray& items = value.as_array();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += options.item_separator;
        newline(depth + 1);
        dump_to(items[i], options, depth + 1, out);
      }
      newline(depth);
      out.push_back(']');
      return;
    }
    case JsonValue::Type::kObject: {
      const JsonObject& members = value.as_object();
      if (members.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, JsonValue>*> order;
      for (const auto& member : members)
        order.push_back(&member);
      if (options.sort_keys) {
        std::stable_sort(order.begin(), order.end(),
                         [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      out.push_back('{');
      for (size_t i = 0; i < order.size(); ++i) {
        if (i > 0) out += options.item_separator;
        newline(depth + 1);
        append_json_string(order[i]->first, options.ensure_ascii, out);
        out += options.key_separator;
        dump_to(order[i]->second, options, depth + 1, out);
      }
      newline(depth);
      out.push_back('}');
      return;
    }
  }
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  JsonValue parse_document() {
    JsonValue value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw TextError(std::string(source_) + ": " + what + " at byte offset " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  JsonValue parse_value(int depth) {
    if (depth > 512) fail("nesting deeper than 512");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return JsonValue(parse_string());
    if (consume("true")) return JsonValue(true);
    if (consume("false")) return JsonValue(false);
    if (consume("null")) return JsonValue();
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail(std::string("unexpected character '") + c + "'");
  }

  JsonValue parse_number() {
    const size_t start = pos_;
    bool is_float = false;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t begin = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
        ++pos_;
      if (pos_ == begin) fail("expected a digit");
    };
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else {
      digits();
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      is_float = true;
      digits();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      is_float = true;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      digits();
    }
    const std::string_view number = text_.substr(start, pos_ - start);
    if (!is_float) {
      int64_t v = 0;
      auto r = std::from_chars(number.data(), number.data() + number.size(), v);
      if (r.ec == std::errc()) return JsonValue(v);
    }
    return JsonValue(std::strtod(std::string(number).c_str(), nullptr));
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<uint32_t>(h - 'A' + 10);
      else
        fail("bad hex digit in \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) fail("unterminated escape");
        const char e = text_[pos_++];
        switch (e) {
          case '"':
            out.push_back('"');
            break;
          case '\\':
            out.push_back('\\');
            break;
          case '/':
            out.push_back('/');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            uint32_t cp = parse_hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
              const size_t save = pos_;
              pos_ += 2;
              const uint32_t low = parse_hex4();
              if (low >= 0xDC00 && low <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              } else {
                pos_ = save;
              }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
            append_code_point(cp, out);
            break;
          }
          default:
            --pos_;
            fail(std::string("bad escape '\\") + e + "'");
        }
        continue;
      }
      if (c >= 0x80) {
        const size_t len = valid_sequence_length(text_, pos_);
        if (len == 0) fail("invalid UTF-8 in string");
        out.append(text_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      out.push_back(static_cast<char>(c));
      ++pos_;
    }
  }

  JsonValue parse_array(int depth) {
    ++pos_;
    JsonArray items;
    skip_space();
    if (consume("]")) return JsonValue(std::move(items));
    while (true) {
      items.push_back(parse_value(depth + 1));
      skip_space();
      if (consume("]")) return JsonValue(std::move(items));
      if (!consume(",")) fail("expected ',' or ']'");
    }
  }

  JsonValue parse_object(int depth) {
    ++pos_;
    JsonObject members;
    skip_space();
    if (consume("}")) return JsonValue(std::move(members));
    while (true) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_space();
      if (!consume(":")) fail("expected ':'");
      JsonValue value = parse_value(depth + 1);
      // Python's json.loads keeps the last value of a repeated key, at the first key's position.
      auto it = std::find_if(members.begin(), members.end(),
                             [&](const auto& m) { return m.first == key; });
      if (it != members.end()) {
        it->second = std::move(value);
      } else {
        members.emplace_back(std::move(key), std::move(value));
      }
      skip_space();
      if (consume("}")) return JsonValue(std::move(members));
      if (!consume(",")) fail("expected ',' or '}'");
    }
  }

  std::string_view text_;
  std::string_view source_;
  size_t pos_ = 0;
};

}  // namespace

JsonValue JsonValue::parse(std::string_view text, std::string_view source) {
  return Parser(text, source).parse_document();
}

std::string JsonValue::dump(const JsonDumpOptions& options) const {
  std::string out;
  dump_to(*this, options, 0, out);
  return out;
}

}  // namespace mm::text
