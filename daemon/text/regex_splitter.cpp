#define PCRE2_CODE_UNIT_WIDTH 8
#include "daemon/text/regex_splitter.h"

#include <pcre2.h>

#include "daemon/text/error.h"
#include "daemon/text/utf8.h"

namespace mm::text {
namespace {

// Rust's `\s` (Unicode White_Space), written as class contents.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

std::string RegexSplitter::translate_pattern(std::string_view pattern, std::string_view where) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S') {
        if (in_class) {
          throw TextError(std::string(where) +
                          ": `\\S` inside a character class at pattern offset " +
                          std::to_string(i - 1) + " is not supported");
        }
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

RegexSplitter::RegexSplitter(std::string_view pattern, SplitBehavior behavior,
                             std::string_view where)
    : compiled_(std::make_unique<Compiled>()), behavior_(behavior) {
  const std::string translated = translate_pattern(pattern, where);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                    PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (compiled_->code == nullptr) {
    throw TextError(std::string(where) + ": regex does not compile (" + pcre2_message(error_code) +
                    ") at offset " + std::to_string(error_offset) + " of the translated pattern");
  }
  // JIT is an optimisation only: when unavailable PCRE2 falls back to the interpreter.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

namespace {

// Per-thread JIT stack (32 KiB growing to 8 MiB): PCRE2's default 32 KiB machine stack can run
// out on long whitespace or punctuation runs, where the split pattern backtracks.
pcre2_match_context* thread_match_context() {
  struct Context {
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack =
        pcre2_jit_stack_create(size_t{32} * 1024, size_t{8} * 1024 * 1024, nullptr);
    Context() { pcre2_jit_stack_assign(context, nullptr, stack); }
    ~Context() {
      pcre2_jit_stack_free(stack);
      pcre2_match_context_free(context);
    }
  };
  thread_local Context context;
  return context.context;
}

}  // namespace

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  pcre2_match_context* context = thread_match_context();
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;      // where the next search starts
  size_t emitted = 0;  // end of the text already handed out
  size_t pending = 0;  // start of a match waiting to merge with the next gap (kMergedWithNext)
  bool has_pending = false;
  auto emit = [&](size_t begin, size_t end) {
    if (end > begin) out.push_back(text.substr(begin, end - begin));
  };
  while (pos < text.size()) {
    const int rc =
        pcre2_match(compiled_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match, context);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a resource limit: the rest is one gap
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    size_t begin = ovector[0];
    size_t end = ovector[1];
    if (end == begin) {  // empty match: step one character and keep searching
      size_t len = valid_sequence_length(text, begin);
      pos = begin + (len == 0 ? 1 : len);
      continue;
    }
    switch (behavior_) {
      case SplitBehavior::kIsolated:
        emit(emitted, begin);
        emit(begin, end);
        break;
      case SplitBehavior::kRemoved:
        emit(emitted, begin);
        break;
      case SplitBehavior::kMergedWithPrevious:
        emit(emitted, end);
        break;
      case SplitBehavior::kMergedWithNext:
        if (has_pending) {
          emit(pending, begin);
        } else {
          emit(emitted, begin);
        }
        pending = begin;
        has_pending = true;
        break;
    }
    emitted = end;
    pos = end;
  }
  if (behavior_ == SplitBehavior::kMergedWithNext && has_pending) {
    emit(pending, text.size());
  } else {
    emit(emitted, text.size());
  }
  pcre2_match_data_free(match);
}

}  // namespace mm::text
