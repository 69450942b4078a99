// Loads Tokenizer from Hugging Face tokenizer.json with simdjson. Every error names the source and
// the JSON field (e.g. "tokenizer.json: model.merges[12]: ...").
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "daemon/text/byte_level.h"
#include "daemon/text/error.h"
#include "daemon/text/tokenizer.h"
#include "daemon/text/tokenizer_impl.h"

namespace mm::text {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

class Loader {
 public:
  explicit Loader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(std::string_view field, std::string_view what) const {
    throw TextError(source_ + ": " + std::string(field) + ": " + std::string(what));
  }

  // Field of an object; nullopt when absent or JSON null.
  std::optional<element> field(element obj, std::string_view key) const {
    element value;
    if (obj.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return std::nullopt;
    return value;
  }
  std::string string_field(element obj, std::string_view key, std::string_view where) const {
    auto value = field(obj, key);
    std::string_view text;
    if (!value || value->get(text) != simdjson::SUCCESS)
      fail(where, "missing string field '" + std::string(key) + "'");
    return std::string(text);
  }
  bool bool_field(element obj, std::string_view key, bool fallback, std::string_view where) const {
    auto value = field(obj, key);
    if (!value) return fallback;
    bool b = false;
    if (value->get(b) != simdjson::SUCCESS)
      fail(where, "field '" + std::string(key) + "' is not a boolean");
    return b;
  }
  int32_t id_of(element value, std::string_view where) const {
    int64_t id = 0;
    if (value.get(id) != simdjson::SUCCESS || id < 0 || id > kMaxTokenId) {
      fail(where, "not a token id in 0.." + std::to_string(kMaxTokenId));
    }
    return static_cast<int32_t>(id);
  }

  void load_model(element model, Tokenizer::Impl& impl) const {
    if (auto type = field(model, "type")) {
      std::string_view t;
      if (type->get(t) != simdjson::SUCCESS || t != "BPE") {
        fail("model.type", "only BPE models are supported");
      }
    }
    if (bool_field(model, "byte_fallback", false, "model"))
      fail("model.byte_fallback", "byte_fallback is not supported (byte-level BPE only)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (auto value = field(model, key)) {
        std::string_view s;
        if (value->get(s) != simdjson::SUCCESS || !s.empty())
          fail(std::string("model.") + key, "not supported");
      }
    }
    if (auto dropout = field(model, "dropout")) {
      double p = 0;
      if (dropout->get(p) != simdjson::SUCCESS || p != 0.0)
        fail("model.dropout", "BPE dropout is not supported");
    }
    impl.model.set_ignore_merges(bool_field(model, "ignore_merges", false, "model"));

    auto vocab = field(model, "vocab");
    object vocab_obj;
    if (!vocab || vocab->get(vocab_obj) != simdjson::SUCCESS)
      fail("model.vocab", "missing or not an object");
    for (auto [key, value] : vocab_obj) {
      const std::string where = "model.vocab[\"" + std::string(key) + "\"]";
      const int32_t id = id_of(value, where);
      auto bytes = byte_level_to_bytes(key);
      impl.model.add_token(bytes ? std::move(*bytes) : std::string(key), id,
                           source_ + ": " + where);
    }

    auto merges = field(model, "merges");
    array merges_arr;
    if (!merges || merges->get(merges_arr) != simdjson::SUCCESS)
      fail("model.merges", "missing or not an array");
    int32_t rank = 0;
    for (element merge : merges_arr) {
      const std::string where = "model.merges[" + std::to_string(rank) + "]";
      std::string_view left, right;
      std::string_view text;
      array pair;
      if (merge.get(text) == simdjson::SUCCESS) {
        const size_t space = text.find(' ');
        if (space == std::string_view::npos ||
            text.find(' ', space + 1) != std::string_view::npos) {
          fail(where, "expected \"left right\"");
        }
        left = text.substr(0, space);
        right = text.substr(space + 1);
      } else if (merge.get(pair) == simdjson::SUCCESS && pair.size() == 2 &&
                 pair.at(0).get(left) == simdjson::SUCCESS &&
                 pair.at(1).get(right) == simdjson::SUCCESS) {
      } else {
        fail(where, "expected a string or a pair of strings");
      }
      auto lb = byte_level_to_bytes(left);
      auto rb = byte_level_to_bytes(right);
      impl.model.add_merge(lb ? *lb : std::string(left), rb ? *rb : std::string(right), rank,
                           source_ + ": " + where);
      ++rank;
    }
  }

  void load_pre_tokenizer(element pre, const std::string& where, Tokenizer::Impl& impl) const {
    const std::string type = string_field(pre, "type", where);
    if (type == "Sequence") {
      auto list = field(pre, "pretokenizers");
      array items;
      if (!list || list->get(items) != simdjson::SUCCESS) fail(where + ".pretokenizers", "missing");
      size_t i = 0;
      for (element item : items)
        load_pre_tokenizer(item, where + ".pretokenizers[" + std::to_string(i++) + "]", impl);
    } else if (type == "Split") {
      if (bool_field(pre, "invert", false, where))
        fail(where + ".invert", "inverted splits are not supported");
      auto pattern = field(pre, "pattern");
      std::string regex;
      std::string_view text;
      if (pattern && pattern->at_key("Regex").get(text) == simdjson::SUCCESS) {
        regex = std::string(text);
      } else if (pattern && pattern->at_key("String").get(text) == simdjson::SUCCESS) {
        regex = "\\Q" + std::string(text) + "\\E";
      } else {
        fail(where + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
      }
      const std::string behavior = string_field(pre, "behavior", where);
      SplitBehavior b;
      if (behavior == "Isolated")
        b = SplitBehavior::kIsolated;
      else if (behavior == "Removed")
        b = SplitBehavior::kRemoved;
      else if (behavior == "MergedWithPrevious")
        b = SplitBehavior::kMergedWithPrevious;
      else if (behavior == "MergedWithNext")
        b = SplitBehavior::kMergedWithNext;
      else
        fail(where + ".behavior", "unsupported split behavior '" + behavior + "'");
      PreTokenizerStep step;
      step.splitter =
          std::make_unique<RegexSplitter>(regex, b, source_ + ": " + where + ".pattern");
      impl.steps.push_back(std::move(step));
    } else if (type == "ByteLevel") {
      PreTokenizerStep step;
      step.is_byte_level = true;
      step.add_prefix_space = bool_field(pre, "add_prefix_space", false, where);
      if (bool_field(pre, "use_regex", true, where)) {
        step.splitter = std::make_unique<RegexSplitter>(kGpt2SplitPattern, SplitBehavior::kIsolated,
                                                        source_ + ": " + where);
      }
      impl.steps.push_back(std::move(step));
    } else {
      fail(where + ".type", "unsupported pre-tokenizer '" + type + "'");
    }
  }

  void load_post_processor(element post, const std::string& where, Tokenizer::Impl& impl) const {
    const std::string type = string_field(post, "type", where);
    if (type == "ByteLevel") return;  // only adjusts offsets
    if (type == "Sequence") {
      array items;
      auto list = field(post, "processors");
      if (!list || list->get(items) != simdjson::SUCCESS) fail(where + ".processors", "missing");
      size_t i = 0;
      for (element item : items)
        load_post_processor(item, where + ".processors[" + std::to_string(i++) + "]", impl);
      return;
    }
    if (type != "TemplateProcessing")
      fail(where + ".type", "unsupported post-processor '" + type + "'");
    array single;
    auto single_field = field(post, "single");
    if (!single_field || single_field->get(single) != simdjson::SUCCESS)
      fail(where + ".single", "missing");
    auto specials = field(post, "special_tokens");
    bool seen_sequence = false;
    for (element item : single) {
      element special;
      if (item.at_key("Sequence").get(special) == simdjson::SUCCESS) {
        seen_sequence = true;
        continue;
      }
      std::string_view name;
      if (item.at_key("SpecialToken").at_key("id").get(name) != simdjson::SUCCESS) {
        fail(where + ".single", "expected Sequence or SpecialToken items");
      }
      array ids;
      if (!specials || specials->at_key(name).at_key("ids").get(ids) != simdjson::SUCCESS) {
        fail(where + ".special_tokens", "no ids for '" + std::string(name) + "'");
      }
      for (element id : ids) {
        (seen_sequence ? impl.suffix_ids : impl.prefix_ids)
            .push_back(id_of(id, where + ".special_tokens"));
      }
    }
  }

  void load_normalizer(element normalizer, const std::string& where, Tokenizer::Impl& impl) const {
    const std::string type = string_field(normalizer, "type", where);
    if (type == "Sequence") {
      array items;
      auto list = field(normalizer, "normalizers");
      if (!list || list->get(items) != simdjson::SUCCESS) fail(where + ".normalizers", "missing");
      size_t i = 0;
      for (element item : items)
        load_normalizer(item, where + ".normalizers[" + std::to_string(i++) + "]", impl);
      return;
    }
    const std::string at = source_ + ": " + where;
    if (type == "NFC")
      impl.normalizer.add(Normalizer::Form::kNfc, at);
    else if (type == "NFD")
      impl.normalizer.add(Normalizer::Form::kNfd, at);
    else if (type == "NFKC")
      impl.normalizer.add(Normalizer::Form::kNfkc, at);
    else if (type == "NFKD")
      impl.normalizer.add(Normalizer::Form::kNfkd, at);
    else
      fail(where + ".type",
           "unsupported normalizer '" + type + "' (NFC, NFD, NFKC, NFKD are supported)");
  }

  void check_decoder(element decoder, const std::string& where) const {
    const std::string type = string_field(decoder, "type", where);
    if (type == "ByteLevel") return;
    if (type == "Sequence") {
      array items;
      auto list = field(decoder, "decoders");
      if (!list || list->get(items) != simdjson::SUCCESS) fail(where + ".decoders", "missing");
      size_t i = 0;
      for (element item : items)
        check_decoder(item, where + ".decoders[" + std::to_string(i++) + "]");
      return;
    }
    fail(where + ".type", "unsupported decoder '" + type + "' (byte-level only)");
  }

  std::unique_ptr<Tokenizer::Impl> load(std::string_view json) const {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    element doc;
    if (auto error = parser.parse(padded).get(doc); error != simdjson::SUCCESS) {
      fail("(document)", std::string("invalid JSON: ") + simdjson::error_message(error));
    }
    auto impl = std::make_unique<Tokenizer::Impl>();
    if (auto normalizer = field(doc, "normalizer"))
      load_normalizer(*normalizer, "normalizer", *impl);
    auto model = field(doc, "model");
    if (!model) fail("model", "missing");
    load_model(*model, *impl);
    if (auto pre = field(doc, "pre_tokenizer")) load_pre_tokenizer(*pre, "pre_tokenizer", *impl);
    if (auto post = field(doc, "post_processor"))
      load_post_processor(*post, "post_processor", *impl);
    if (auto decoder = field(doc, "decoder")) check_decoder(*decoder, "decoder");

    if (auto added = field(doc, "added_tokens")) {
      array items;
      if (added->get(items) != simdjson::SUCCESS) fail("added_tokens", "not an array");
      size_t i = 0;
      for (element item : items) {
        const std::string where = "added_tokens[" + std::to_string(i++) + "]";
        AddedToken token;
        auto id = field(item, "id");
        if (!id) fail(where, "missing 'id'");
        token.id = id_of(*id, where + ".id");
        token.content = string_field(item, "content", where);
        token.special = bool_field(item, "special", false, where);
        token.single_word = bool_field(item, "single_word", false, where);
        token.lstrip = bool_field(item, "lstrip", false, where);
        token.rstrip = bool_field(item, "rstrip", false, where);
        token.normalized = bool_field(item, "normalized", !token.special, where);
        if (impl->added_by_id.count(token.id) != 0)
          fail(where + ".id", "id " + std::to_string(token.id) + " used twice");
        impl->added_by_id.emplace(token.id, impl->added.size());
        impl->added_by_content.emplace(token.content, token.id);
        impl->matcher.add(token);
        impl->added.push_back(std::move(token));
      }
    }
    return impl;
  }

 private:
  std::string source_;
};

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view json, std::string_view source_name) {
  return Tokenizer(Loader(source_name).load(json));
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TextError(path + ": cannot open tokenizer file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return from_json(buffer.str(), path);
}

}  // namespace mm::text
