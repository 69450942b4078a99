#include "daemon/text/jinja/string_ops.h"

#include <algorithm>

#include "daemon/text/error.h"
#include "daemon/text/utf8.h"

namespace mm::text::jinja {

std::vector<uint32_t> to_code_points(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = valid_sequence_length(text, pos);
    if (len == 0) {  // invalid byte: U+FFFD, as a Python string decoded with errors="replace"
      out.push_back(0xFFFD);
      pos += invalid_subpart_length(text, pos);
      continue;
    }
    out.push_back(decode_code_point(text, pos, len));
    pos += len;
  }
  return out;
}

std::string from_code_points(const std::vector<uint32_t>& code_points) {
  std::string out;
  for (uint32_t cp : code_points)
    append_code_point(cp, out);
  return out;
}

size_t code_point_count(std::string_view text) {
  size_t n = 0;
  for (char c : text)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return is_valid_utf8(text) ? n : to_code_points(text).size();
}

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string py_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                     bool right) {
  const std::vector<uint32_t> cps = to_code_points(text);
  std::vector<uint32_t> set;
  if (chars) set = to_code_points(*chars);
  auto strippable = [&](uint32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_python_space(cp);
  };
  size_t begin = 0;
  size_t end = cps.size();
  if (left) {
    while (begin < end && strippable(cps[begin]))
      ++begin;
  }
  if (right) {
    while (end > begin && strippable(cps[end - 1]))
      --end;
  }
  return from_code_points(std::vector<uint32_t>(cps.begin() + static_cast<ptrdiff_t>(begin),
                                                cps.begin() + static_cast<ptrdiff_t>(end)));
}

std::vector<std::string> py_split(std::string_view text, const std::optional<std::string>& sep,
                                  int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw TextError("split: empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        const size_t found = text.find(*sep, pos);
        if (found == std::string_view::npos) break;
        out.emplace_back(text.substr(pos, found - pos));
        pos = found + sep->size();
      }
      out.emplace_back(text.substr(pos));
      return out;
    }
    size_t end = text.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t found = text.rfind(*sep, end - sep->size());
      if (found == std::string_view::npos) break;
      out.emplace_back(text.substr(found + sep->size(), end - found - sep->size()));
      end = found;
    }
    out.emplace_back(text.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  const std::vector<uint32_t> cps = to_code_points(text);
  if (!from_right) {
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && is_python_space(cps[i]))
        ++i;
      if (i >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t end = cps.size();
        while (end > i && is_python_space(cps[end - 1]))
          --end;
        out.push_back(from_code_points(
            {cps.begin() + static_cast<ptrdiff_t>(i), cps.begin() + static_cast<ptrdiff_t>(end)}));
        return out;
      }
      const size_t start = i;
      while (i < cps.size() && !is_python_space(cps[i]))
        ++i;
      out.push_back(from_code_points(
          {cps.begin() + static_cast<ptrdiff_t>(start), cps.begin() + static_cast<ptrdiff_t>(i)}));
    }
    return out;
  }
  size_t i = cps.size();
  while (i > 0) {
    while (i > 0 && is_python_space(cps[i - 1]))
      --i;
    if (i == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t begin = 0;
      while (begin < i && is_python_space(cps[begin]))
        ++begin;
      out.push_back(from_code_points(
          {cps.begin() + static_cast<ptrdiff_t>(begin), cps.begin() + static_cast<ptrdiff_t>(i)}));
      break;
    }
    const size_t end = i;
    while (i > 0 && !is_python_space(cps[i - 1]))
      --i;
    out.push_back(from_code_points(
        {cps.begin() + static_cast<ptrdiff_t>(i), cps.begin() + static_cast<ptrdiff_t>(end)}));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string py_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string py_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string py_title(std::string_view text) {
  std::string out(text);
  bool previous_cased = false;
  for (char& c : out) {
    const bool lower = c >= 'a' && c <= 'z';
    const bool upper = c >= 'A' && c <= 'Z';
    if (lower && !previous_cased) c = static_cast<char>(c - 'a' + 'A');
    if (upper && previous_cased) c = static_cast<char>(c - 'A' + 'a');
    previous_cased = lower || upper;
  }
  return out;
}

std::string py_capitalize(std::string_view text) {
  std::string out = py_lower(text);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement,
                       int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement between every code point (and at both ends).
    const auto cps = to_code_points(text);
    int64_t done = 0;
    for (uint32_t cp : cps) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      append_code_point(cp, out);
    }
    if (count < 0 || done < count) out += replacement;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = text.find(old, pos);
    if (found == std::string_view::npos) break;
    out.append(text.substr(pos, found - pos));
    out.append(replacement);
    pos = found + old.size();
    ++done;
  }
  out.append(text.substr(pos));
  return out;
}

std::vector<int64_t> slice_indices(int64_t length, std::optional<int64_t> start,
                                   std::optional<int64_t> stop, std::optional<int64_t> step) {
  const int64_t s = step.value_or(1);
  if (s == 0) throw TextError("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t fallback, int64_t low, int64_t high) {
    if (!v) return fallback;
    int64_t x = *v < 0 ? *v + length : *v;
    return std::clamp(x, low, high);
  };
  std::vector<int64_t> out;
  if (s > 0) {
    const int64_t b = clamp(start, 0, 0, length);
    const int64_t e = clamp(stop, length, 0, length);
    for (int64_t i = b; i < e; i += s)
      out.push_back(i);
  } else {
    const int64_t b = clamp(start, length - 1, -1, length - 1);
    const int64_t e = clamp(stop, -1, -1, length - 1);
    for (int64_t i = b; i > e; i += s)
      out.push_back(i);
  }
  return out;
}

}  // namespace mm::text::jinja
