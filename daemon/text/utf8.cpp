#include "daemon/text/utf8.h"

namespace mm::text {
namespace {

// Unicode Table 3-7: allowed range of the second byte for each lead byte; later bytes 80..BF.
bool second_byte_ok(unsigned char lead, unsigned char b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  return b >= 0x80 && b <= 0xBF;
}

size_t expected_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Number of bytes from `pos` that are a valid prefix of a sequence (lead included), capped at the
// expected length.
size_t valid_prefix(std::string_view text, size_t pos, size_t& needed) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  needed = expected_length(lead);
  if (needed <= 1) return needed;
  size_t n = 1;
  while (n < needed && pos + n < text.size()) {
    const auto b = static_cast<unsigned char>(text[pos + n]);
    const bool ok = n == 1 ? second_byte_ok(lead, b) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++n;
  }
  return n;
}

}  // namespace

size_t valid_sequence_length(std::string_view text, size_t pos) {
  size_t needed = 0;
  const size_t n = valid_prefix(text, pos, needed);
  return n == needed ? n : 0;
}

size_t invalid_subpart_length(std::string_view text, size_t pos) {
  size_t needed = 0;
  const size_t n = valid_prefix(text, pos, needed);
  return n == 0 ? 1 : n;
}

size_t incomplete_tail_length(std::string_view text) {
  const size_t start = text.size() > 3 ? text.size() - 3 : 0;
  for (size_t pos = start; pos < text.size(); ++pos) {
    size_t needed = 0;
    const size_t n = valid_prefix(text, pos, needed);
    if (needed > 1 && n < needed && pos + n == text.size()) return text.size() - pos;
  }
  return 0;
}

size_t find_invalid_utf8(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t n = valid_sequence_length(text, pos);
    if (n == 0) return pos;
    pos += n;
  }
  return text.size();
}

bool is_valid_utf8(std::string_view text) { return find_invalid_utf8(text, 0) == text.size(); }

void append_lossy(std::string_view bytes, std::string& out) {
  size_t pos = 0;
  for (;;) {
    const size_t bad = find_invalid_utf8(bytes, pos);
    out.append(bytes.substr(pos, bad - pos));
    if (bad == bytes.size()) return;
    out.append(kReplacementChar);
    pos = bad + invalid_subpart_length(bytes, bad);
  }
}

void append_code_point(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t decode_code_point(std::string_view text, size_t pos, size_t& length) {
  const auto b0 = static_cast<unsigned char>(text[pos]);
  length = expected_length(b0);
  if (length <= 1) {
    length = 1;
    return b0;
  }
  uint32_t cp = b0 & (0xFF >> (length + 1));
  for (size_t i = 1; i < length; ++i)
    cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  return cp;
}

}  // namespace mm::text
