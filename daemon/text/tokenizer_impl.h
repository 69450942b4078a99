// Internal state of Tokenizer shared by tokenizer.cpp (encode/decode) and tokenizer_json.cpp
// (loading). Not part of the public API.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/text/added_tokens.h"
#include "daemon/text/bpe.h"
#include "daemon/text/normalizer.h"
#include "daemon/text/regex_splitter.h"
#include "daemon/text/tokenizer.h"

namespace mm::text {

struct PreTokenizerStep {
  std::unique_ptr<RegexSplitter> splitter;  // null for a ByteLevel step without regex
  bool is_byte_level = false;
  bool add_prefix_space = false;  // ByteLevel only
};

struct Tokenizer::Impl {
  BpeModel model;
  AddedTokenMatcher matcher;
  std::vector<AddedToken> added;
  std::unordered_map<int32_t, size_t> added_by_id;
  std::unordered_map<std::string, int32_t> added_by_content;
  Normalizer normalizer;
  std::vector<PreTokenizerStep> steps;
  std::vector<int32_t> prefix_ids;  // TemplateProcessing "single" before the sequence
  std::vector<int32_t> suffix_ids;  // ... and after it

  const AddedToken* find_added(int32_t id) const {
    auto it = added_by_id.find(id);
    return it == added_by_id.end() ? nullptr : &added[it->second];
  }
  // `parse_special`: match normalized added tokens after normalization.
  void encode_plain(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view valid, bool parse_special,
                         std::vector<int32_t>& out) const;
  void encode_valid(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace mm::text
