// UTF-8 validation and lossy decoding with Rust's `String::from_utf8_lossy` semantics (one U+FFFD
// per maximal invalid subpart, Unicode §3.9 "substitution of maximal subparts").
// Thread-safe: every function here is pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mm::text {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length (1-4) of the valid UTF-8 sequence starting at `pos`, or 0 when the bytes there do not
// start a valid sequence (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF, or a
// sequence cut off by the end of `text`).
size_t valid_sequence_length(std::string_view text, size_t pos);

// How many bytes of the invalid sequence starting at `pos` one U+FFFD replaces: the longest prefix
// of a valid sequence (at least 1).
size_t invalid_subpart_length(std::string_view text, size_t pos);

// How many bytes at the end of `text` form a proper prefix of a valid sequence that more bytes
// could complete (0-3).
size_t incomplete_tail_length(std::string_view text);

bool is_valid_utf8(std::string_view text);
// The position of the first byte at or after `pos` that starts no valid UTF-8 sequence;
// text.size() when the rest is valid.
size_t find_invalid_utf8(std::string_view text, size_t pos);

// Appends `bytes` to `out`, replacing every maximal invalid subpart by U+FFFD.
void append_lossy(std::string_view bytes, std::string& out);

// Appends the UTF-8 encoding of `code_point` (must be <= 0x10FFFF and not a surrogate).
void append_code_point(uint32_t code_point, std::string& out);

// Decodes the code point at `pos` of valid UTF-8; sets `length`.
uint32_t decode_code_point(std::string_view text, size_t pos, size_t& length);

}  // namespace mm::text
