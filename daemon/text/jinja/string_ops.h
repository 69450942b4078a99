// Python str operations on UTF-8 strings, by code point (Python strings index code points):
// strip, split, case mapping, slicing. Case mapping covers ASCII only (documented limitation: the
// chat templates mmd targets apply upper/lower/title to ASCII role names and keywords).
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mm::text::jinja {

std::vector<uint32_t> to_code_points(std::string_view text);
std::string from_code_points(const std::vector<uint32_t>& code_points);
size_t code_point_count(std::string_view text);

// Python str.isspace for one code point.
bool is_python_space(uint32_t code_point);

// str.strip / lstrip / rstrip; `chars` nullopt strips whitespace.
std::string py_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                     bool right);
// str.split(sep, maxsplit) (sep nullopt: runs of whitespace, no empty pieces); rsplit when
// `from_right`.
std::vector<std::string> py_split(std::string_view text, const std::optional<std::string>& sep,
                                  int64_t maxsplit, bool from_right = false);
std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);
std::string py_title(std::string_view text);
std::string py_capitalize(std::string_view text);
std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement,
                       int64_t count);

// Python slice indices for a sequence of `length`: the selected positions in order.
std::vector<int64_t> slice_indices(int64_t length, std::optional<int64_t> start,
                                   std::optional<int64_t> stop, std::optional<int64_t> step);

}  // namespace mm::text::jinja
