// Encodes arbitrary bytes with the MiniMax test tokenizer and checks the defined invariants:
// decode_bytes(encode(x)) == x; decode and the streaming detokenizer never crash and agree.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/text/detokenizer.h"
#include "daemon/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mm::text::Tokenizer kTok = mm::text::Tokenizer::from_file(
      std::string(MMD_FIXTURE_DIR) + "/text/minimax_test.tokenizer.json");
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto ids = kTok.encode(input);
  if (kTok.decode_bytes(ids) != input) std::abort();
  const std::string decoded = kTok.decode(ids);
  mm::text::StreamingDetokenizer detok(kTok, {});
  std::string streamed;
  for (int32_t id : ids)
    streamed += detok.push(id);
  streamed += detok.finish();
  if (streamed != decoded) std::abort();
  // Arbitrary id sequences (including unknown ids) with a stop string.
  std::vector<int32_t> raw_ids;
  for (size_t i = 0; i + 1 < size; i += 2)
    raw_ids.push_back((data[i] | (data[i + 1] << 8)) * 4);
  mm::text::StreamingDetokenizer stopper(kTok, {.stop_strings = {"e~", "\xE4\xB8"}});
  for (int32_t id : raw_ids)
    stopper.push(id);
  stopper.finish();
  (void)kTok.decode(raw_ids, true);
  return 0;
}
