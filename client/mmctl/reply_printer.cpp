#include "client/mmctl/reply_printer.h"

namespace mm {

namespace {

constexpr const char* kDim = "\033[2m";
constexpr const char* kReset = "\033[0m";

}  // namespace

void ReplyPrinter::write(std::string_view text) {
  if (text.empty()) return;
  out_ << text;
  at_line_start_ = text.back() == '\n';
}

void ReplyPrinter::reasoning(std::string_view text) {
  if (text.empty()) return;
  if (part_ != Part::kReasoning) {
    if (part_ == Part::kAnswer && !at_line_start_) write("\n");
    if (tty_) out_ << kDim;
    part_ = Part::kReasoning;
  }
  write(text);
  out_.flush();
}

void ReplyPrinter::answer(std::string_view text) {
  if (text.empty()) return;
  if (part_ == Part::kReasoning) {
    if (tty_) out_ << kReset;
    if (!at_line_start_) write("\n");
    write(kAnswerSeparator);
    write("\n");
  }
  part_ = Part::kAnswer;
  write(text);
  out_.flush();
}

void ReplyPrinter::finish() {
  if (tty_ && part_ == Part::kReasoning) out_ << kReset;
  if (!at_line_start_) write("\n");
  part_ = Part::kNone;
  at_line_start_ = true;
  out_.flush();
}

}  // namespace mm
