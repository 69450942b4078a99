#include "daemon/engine/block_hash.h"

#include "daemon/engine/bit_mix.h"

namespace mm {
namespace {}  // namespace

BlockHash root_hash(uint64_t salt) {
  return BlockHash{mix64(salt ^ 0x9E3779B97F4A7C15ull), mix64(salt + 0xD1B54A32D192ED03ull)};
}

BlockHash chain_block_hash(const BlockHash& parent, std::span<const int32_t> token_ids) {
  uint64_t hi = parent.hi;
  uint64_t lo = parent.lo;
  for (int32_t token : token_ids) {
    const auto t = static_cast<uint64_t>(static_cast<uint32_t>(token));
    hi = mix64(hi ^ (t + 0x632BE59BD9B4E019ull));
    lo = mix64(lo + (t ^ 0x8CB92BA72F3D8DD7ull) * 0xA0761D6478BD642Full);
  }
  // The length is folded in so a shorter run never aliases a longer one.
  hi = mix64(hi ^ token_ids.size());
  lo = mix64(lo + token_ids.size() * 0xE7037ED1A0B428DBull);
  return BlockHash{hi, lo};
}

}  // namespace mm
