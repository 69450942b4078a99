// `mmctl generate [PROMPT | -] [--tokens 1,2,3] [sampling flags] [--json]`: one completion,
// streamed to stdout as it is generated (token ids when the daemon sends no text). The prompt
// is read from stdin when it is "-" or absent.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace mm {

// Exit code: 0 finished, 2 usage, 3 no daemon / connection lost, 4 the request failed.
int run_generate_command(const std::vector<std::string>& args, std::istream& in,
                         std::ostream& out, std::ostream& err);

}  // namespace mm
