#include "daemon/text/byte_level.h"

#include <array>

#include "daemon/text/utf8.h"

namespace mm::text {
namespace {

bool shown_as_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<int, 324> from_char{};  // code points < 0x144 cover the whole alphabet
  Tables() {
    from_char.fill(-1);
    unsigned next = 0;
    for (unsigned b = 0; b < 256; ++b) {
      to_char[b] = shown_as_itself(b) ? b : 0x100 + next++;
      from_char[to_char[b]] = static_cast<int>(b);
    }
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

}  // namespace

char32_t byte_to_char(unsigned char byte) {
  return tables().to_char[byte];
}

std::optional<unsigned char> char_to_byte(char32_t code_point) {
  if (code_point >= tables().from_char.size()) return std::nullopt;
  const int b = tables().from_char[code_point];
  if (b < 0) return std::nullopt;
  return static_cast<unsigned char>(b);
}

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    if (valid_sequence_length(token, pos) == 0) return std::nullopt;
    size_t len = 0;
    const uint32_t cp = decode_code_point(token, pos, len);
    const auto byte = char_to_byte(cp);
    if (!byte) return std::nullopt;
    out.push_back(static_cast<char>(*byte));
    pos += len;
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  for (char c : bytes)
    append_code_point(byte_to_char(static_cast<unsigned char>(c)), out);
  return out;
}

}  // namespace mm::text
