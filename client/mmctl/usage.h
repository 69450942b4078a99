// mmctl's help texts: the overview (`mmctl --help`) and one per command (`mmctl COMMAND
// --help`), kept together so that they read alike and match mmctl(1).
#pragma once

#include <string>
#include <string_view>

namespace mm {

// `mmctl --help`: every command in a line or two.
std::string overall_usage();
// `mmctl COMMAND --help`; empty for a command that does not exist.
std::string command_usage(std::string_view command);
// `mmctl --version`.
std::string version_text();

}  // namespace mm
