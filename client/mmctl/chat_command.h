// `mmctl chat [--system TEXT] [sampling flags] [--json]`: an interactive chat. Each line read
// from stdin is a user turn; the reply streams as it is generated, the model's reasoning dimmed
// and set apart from the answer by a separator line, tool calls shown; the history is kept and
// sent with every turn. "/reset" clears it, "/save FILE" and "/load FILE" write and read it as
// OpenAI messages, "/exit" (or end of input) leaves; Ctrl-C while a reply streams stops that
// reply and keeps the conversation. With --tools FILE the model may call those tools: each
// call is shown, its result is the next input line, and the model goes on with it. With --json
// each reply prints one JSON object.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace mm {

int run_chat_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                     std::ostream& err);

}  // namespace mm
