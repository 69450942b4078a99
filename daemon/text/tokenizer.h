// A Hugging Face `tokenizer.json` byte-level BPE tokenizer (MiniMax-M2, GPT-2 and Llama-3 style):
// added tokens, the pre-tokenizer split regex (PCRE2), ranked merges, byte-level decoding. Token
// ids always come from the file. NFC/NFD/NFKC/NFKD normalizers are applied through ICU.
// Thread-safe after loading: encode and decode are const; the only mutable state is the BPE word
// cache, which is per thread.
//
// Invalid UTF-8 input (impossible for Hugging Face, whose input is a Rust String) has defined
// behaviour here: the input is cut at every byte that does not belong to a valid UTF-8 sequence;
// each valid run is encoded as Hugging Face would encode it alone, and each invalid byte becomes
// its own single-byte token. So decode_bytes(encode(x)) == x for every byte string x (when the
// file has no normalizer; a normalizer rewrites valid runs before pre-tokenization).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mm::text {

struct AddedToken;

class Tokenizer {
 public:
  // Throws TextError naming the file and the JSON field that is missing, malformed or unsupported.
  static Tokenizer from_file(const std::string& path);
  // `source_name` names the text in error messages.
  static Tokenizer from_json(std::string_view json, std::string_view source_name);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Encodes `text` (any bytes). `add_special_tokens` applies the post-processor's template (e.g. a
  // BOS); MiniMax prompts are encoded with it off (the chat template writes `]~!b[`).
  // `parse_special` = false encodes added-token strings as plain text.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false,
                              bool parse_special = true) const;

  // Hugging Face `decode`: added tokens are written as their content (special ones dropped when
  // `skip_special_tokens`), runs of model tokens are byte-decoded with U+FFFD for invalid bytes;
  // unknown ids are ignored.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
  // Exact bytes the ids stand for (no U+FFFD substitution; added tokens as their content).
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Raw bytes of one token (model token byte-decoded, added token content); nullopt if unknown.
  std::optional<std::string> token_bytes(int32_t id) const;
  // Id of a vocabulary string (added-token content, or model token in byte-level spelling).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  bool is_added(int32_t id) const;
  bool is_special(int32_t id) const;
  // Largest id + 1 (model vocabulary and added tokens).
  int32_t vocab_size() const;
  std::vector<AddedToken> added_tokens() const;

  struct Impl;  // defined in tokenizer_impl.h (internal)
  explicit Tokenizer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mm::text
