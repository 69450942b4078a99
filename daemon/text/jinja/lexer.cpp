#include "daemon/text/jinja/lexer.h"

#include <algorithm>

#include "daemon/text/error.h"
#include "daemon/text/utf8.h"

namespace mm::text::jinja {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_name_start(char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

class Lexer {
 public:
  Lexer(std::string_view source, std::string_view name) : src_(source), name_(name) {
    // keep_trailing_newline=False: one trailing newline of the template is dropped.
    if (!src_.empty() && src_.back() == '\n') {
      src_.remove_suffix(1);
      if (!src_.empty() && src_.back() == '\r') src_.remove_suffix(1);
    }
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      std::string text(
          src_.substr(pos_, (tag == std::string_view::npos ? src_.size() : tag) - pos_));
      const size_t text_pos = pos_;
      if (tag == std::string_view::npos) {
        emit_text(text, text_pos);
        break;
      }
      const char kind = src_[tag + 1];
      const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        text.erase(text.find_last_not_of(" \t\n\r\f\v") + 1);
        if (text.find_first_not_of(" \t\n\r\f\v") == std::string::npos) text.clear();
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop spaces/tabs between the start of the line and a block or comment.
        const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if ((line_start > 0 || line_starting) &&
            text.find_first_not_of(" \t", line_start) == std::string::npos) {
          text.erase(line_start);
        }
      }
      emit_text(text, text_pos);
      pos_ = tag + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        line_starting = lex_comment(tag);
      } else if (kind == '%' && is_raw(pos_)) {
        line_starting = lex_raw(tag);
      } else {
        line_starting = lex_tag(kind == '{', tag);
      }
    }
    tokens_.push_back(
        {TokenType::kEnd, "", line_of(src_.size()).first, line_of(src_.size()).second});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    auto [line, col] = line_of(at);
    throw TextError(std::string(name_) + ":" + std::to_string(line) + ":" + std::to_string(col) +
                    ": " + what);
  }

  std::pair<int, int> line_of(size_t at) const {
    if (line_starts_.empty()) {
      line_starts_.push_back(0);
      for (size_t i = 0; i < src_.size(); ++i) {
        if (src_[i] == '\n') line_starts_.push_back(i + 1);
      }
    }
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at) - 1;
    return {static_cast<int>(it - line_starts_.begin()) + 1, static_cast<int>(at - *it) + 1};
  }

  size_t find_tag(size_t from) const {
    while (true) {
      const size_t brace = src_.find('{', from);
      if (brace == std::string_view::npos || brace + 1 >= src_.size())
        return std::string_view::npos;
      const char next = src_[brace + 1];
      if (next == '{' || next == '%' || next == '#') return brace;
      from = brace + 1;
    }
  }

  void emit_text(const std::string& text, size_t at) {
    if (text.empty()) return;
    auto [line, col] = line_of(at);
    tokens_.push_back({TokenType::kText, text, line, col});
  }

  // After a tag's closing delimiter: `-` strips all following whitespace, otherwise trim_blocks
  // drops one newline after block and comment tags. Returns whether the consumed text ended a line.
  bool after_tag(bool strip, bool plus, bool is_block) {
    if (strip) {
      const size_t start = pos_;
      while (pos_ < src_.size() && is_space(src_[pos_]))
        ++pos_;
      return pos_ > start && src_[pos_ - 1] == '\n';
    }
    if (is_block && !plus && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      return true;
    }
    return false;
  }

  bool lex_comment(size_t tag) {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string_view::npos) fail(tag, "unterminated comment");
    const bool strip = end > pos_ && src_[end - 1] == '-';
    pos_ = end + 2;
    return after_tag(strip, false, true);
  }

  bool is_raw(size_t at) const {
    size_t p = at;
    while (p < src_.size() && is_space(src_[p]))
      ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_space(src_[p]))
      ++p;
    if (p < src_.size() && src_[p] == '-') ++p;
    return src_.compare(p, 2, "%}") == 0;
  }

  bool lex_raw(size_t tag) {
    size_t close = src_.find("%}", pos_);
    const bool strip_open = src_[close - 1] == '-';
    pos_ = close + 2;
    after_tag(strip_open, false, true);
    size_t search = pos_;
    while (true) {
      const size_t open = src_.find("{%", search);
      if (open == std::string_view::npos) fail(tag, "unterminated raw block (missing endraw)");
      size_t p = open + 2;
      const char sign = p < src_.size() ? src_[p] : '\0';
      if (sign == '-' || sign == '+') ++p;
      while (p < src_.size() && is_space(src_[p]))
        ++p;
      if (src_.compare(p, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      p += 6;
      while (p < src_.size() && is_space(src_[p]))
        ++p;
      bool strip_close = false;
      if (p < src_.size() && src_[p] == '-') {
        strip_close = true;
        ++p;
      }
      if (src_.compare(p, 2, "%}") != 0) fail(open, "malformed endraw tag");
      std::string body(src_.substr(pos_, open - pos_));
      if (sign == '-') body.erase(body.find_last_not_of(" \t\n\r\f\v") + 1);
      emit_text(body, pos_);
      pos_ = p + 2;
      return after_tag(strip_close, false, true);
    }
  }

  // Lexes the expression tokens of a `{{ }}` (is_var) or `{% %}` tag up to its end delimiter.
  bool lex_tag(bool is_var, size_t tag) {
    {
      auto [line, col] = line_of(tag);
      tokens_.push_back({is_var ? TokenType::kVarBegin : TokenType::kBlockBegin, "", line, col});
    }
    const char closer = is_var ? '}' : '%';
    int depth = 0;  // open brackets: a '}}' inside a dict literal does not end the tag
    while (true) {
      while (pos_ < src_.size() && is_space(src_[pos_]))
        ++pos_;
      if (pos_ >= src_.size()) fail(tag, is_var ? "unterminated '{{'" : "unterminated '{%'");
      const char c = src_[pos_];
      if (depth == 0) {
        bool strip = false, plus = false;
        size_t p = pos_;
        if ((c == '-' || c == '+') && p + 1 < src_.size()) {
          strip = c == '-';
          plus = c == '+';
          ++p;
        }
        if (src_.compare(p, 2, std::string(1, closer) + "}") == 0 && (!plus || !is_var)) {
          auto [line, col] = line_of(pos_);
          tokens_.push_back({is_var ? TokenType::kVarEnd : TokenType::kBlockEnd, "", line, col});
          pos_ = p + 2;
          return after_tag(strip, plus, !is_var);
        }
      }
      const size_t start = pos_;
      auto [line, col] = line_of(start);
      if (is_name_start(c)) {
        while (pos_ < src_.size() && (is_name_start(src_[pos_]) || is_digit(src_[pos_])))
          ++pos_;
        tokens_.push_back(
            {TokenType::kName, std::string(src_.substr(start, pos_ - start)), line, col});
      } else if (is_digit(c)) {
        lex_number(line, col);
      } else if (c == '\'' || c == '"') {
        tokens_.push_back({TokenType::kString, lex_string(c), line, col});
      } else {
        static const char* const operators[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                                "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                                "]",  "{",  "}",  ",",  ".",  ":",  "|"};
        bool matched = false;
        for (const char* op : operators) {
          const std::string_view o(op);
          if (src_.compare(pos_, o.size(), o) == 0) {
            if (o == "(" || o == "[" || o == "{") ++depth;
            if ((o == ")" || o == "]" || o == "}") && depth > 0) --depth;
            tokens_.push_back({TokenType::kOperator, std::string(o), line, col});
            pos_ += o.size();
            matched = true;
            break;
          }
        }
        if (!matched) fail(start, std::string("unexpected character '") + c + "'");
      }
    }
  }

  void lex_number(int line, int col) {
    const size_t start = pos_;
    while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_'))
      ++pos_;
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_'))
        ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && is_digit(src_[p])) {
        is_float = true;
        pos_ = p;
        while (pos_ < src_.size() && is_digit(src_[pos_]))
          ++pos_;
      }
    }
    std::string text;
    for (char ch : src_.substr(start, pos_ - start)) {
      if (ch != '_') text.push_back(ch);
    }
    tokens_.push_back({is_float ? TokenType::kFloat : TokenType::kInt, text, line, col});
  }

  std::string lex_string(char quote) {
    const size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) fail(start, "unterminated string literal");
      const char c = src_[pos_];
      if (c == quote) {
        ++pos_;
        return out;
      }
      if (c == '\\' && pos_ + 1 < src_.size()) {
        const char e = src_[pos_ + 1];
        pos_ += 2;
        switch (e) {
          case 'n':
            out.push_back('\n');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case '\\':
            out.push_back('\\');
            break;
          case '\'':
            out.push_back('\'');
            break;
          case '"':
            out.push_back('"');
            break;
          case '0':
            out.push_back('\0');
            break;
          case 'a':
            out.push_back('\a');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'v':
            out.push_back('\v');
            break;
          case '\n':
            break;
          case 'x':
          case 'u':
          case 'U': {
            const size_t digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
            if (pos_ + digits > src_.size()) fail(pos_, "truncated escape in string literal");
            uint32_t cp = 0;
            for (size_t i = 0; i < digits; ++i) {
              const char h = src_[pos_ + i];
              cp <<= 4;
              if (is_digit(h))
                cp |= static_cast<uint32_t>(h - '0');
              else if (h >= 'a' && h <= 'f')
                cp |= static_cast<uint32_t>(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F')
                cp |= static_cast<uint32_t>(h - 'A' + 10);
              else
                fail(pos_ + i, "bad hex digit in string escape");
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
              fail(pos_, "escape is not a Unicode scalar value");
            append_code_point(cp, out);
            pos_ += digits;
            break;
          }
          default:  // Python keeps unknown escapes verbatim
            out.push_back('\\');
            out.push_back(e);
        }
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
  }

  std::string_view src_;
  std::string_view name_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  mutable std::vector<size_t> line_starts_;
};

}  // namespace

std::vector<Token> lex(std::string_view source, std::string_view name) {
  return Lexer(source, name).run();
}

}  // namespace mm::text::jinja
