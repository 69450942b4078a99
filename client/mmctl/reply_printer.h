// Prints a streamed reply for a person: the model's reasoning first (dimmed on a terminal),
// then a separator line, then the answer. The separator is plain text, so the two stay apart
// when the output is piped too.
#pragma once

#include <ostream>
#include <string_view>

namespace mm {

inline constexpr std::string_view kAnswerSeparator = "--- answer ---";

class ReplyPrinter {
 public:
  ReplyPrinter(std::ostream& out, bool tty) : out_(out), tty_(tty) {}
  void reasoning(std::string_view text);
  void answer(std::string_view text);
  // Ends the reply: the colour reset and the line ended. The printer can be reused.
  void finish();

 private:
  enum class Part { kNone, kReasoning, kAnswer };
  void write(std::string_view text);
  std::ostream& out_;
  bool tty_;
  Part part_ = Part::kNone;
  bool at_line_start_ = true;
};

}  // namespace mm
