// Sampling flags shared by mmctl generate, chat and bench (--max-tokens, --temperature, ...).
#pragma once

#include <string>
#include <vector>

#include "ipc/protocol.h"

namespace mm {

// If args[i] is a sampling flag, consumes it (and its value) into `sampling`. Throws
// std::invalid_argument naming a bad value.
bool take_sampling_flag(const std::vector<std::string>& args, size_t& i,
                        ipc::SamplingOptions& sampling);
// "1,2,3" → {1, 2, 3}; throws std::invalid_argument naming the bad entry.
std::vector<int32_t> parse_token_list(const std::string& text);

inline constexpr const char* kSamplingFlagsHelp =
    "  --max-tokens N  --temperature T  --top-p P  --top-k K  --min-p P  --seed S\n"
    "  --ignore-eos  --logprobs N  --stop-token-ids 1,2\n";

}  // namespace mm
