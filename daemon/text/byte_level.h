// The GPT-2 byte-level alphabet: every byte 0-255 is shown as one printable code point (printable
// Latin-1 bytes as themselves, the rest as U+0100 + n in byte order). Vocabulary strings of
// byte-level BPE tokenizers are written in this alphabet. Thread-safe: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mm::text {

// The code point that shows `byte`.
char32_t byte_to_char(unsigned char byte);

// The byte shown by `code_point`, or nullopt when it is not in the alphabet.
std::optional<unsigned char> char_to_byte(char32_t code_point);

// Raw bytes of a vocabulary string when every character is in the alphabet; nullopt otherwise
// (Hugging Face's ByteLevel decoder then uses the string's own UTF-8 bytes).
std::optional<std::string> byte_level_to_bytes(std::string_view token);

// The vocabulary spelling of raw bytes.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace mm::text
