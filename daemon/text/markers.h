// The MiniMax-M2 output markers (spec §4.3, §6.1) and a helper for streaming parsers that must not
// emit a partial marker at the end of a chunk. Thread-safe: constants and a pure function.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace mm::text {

inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";
inline constexpr std::string_view kToolCallOpen = "<minimax:tool_call>";
inline constexpr std::string_view kToolCallClose = "</minimax:tool_call>";

// Length of the longest suffix of `text` that is a proper prefix of one of `markers`.
inline size_t partial_marker_suffix(std::string_view text,
                                    std::initializer_list<std::string_view> markers) {
  size_t best = 0;
  for (std::string_view marker : markers) {
    const size_t max_len = std::min(marker.size() - 1, text.size());
    for (size_t len = max_len; len > best; --len) {
      if (text.substr(text.size() - len) == marker.substr(0, len)) {
        best = len;
        break;
      }
    }
  }
  return best;
}

}  // namespace mm::text
