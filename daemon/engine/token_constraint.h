// A per-request rule on which tokens may be sampled next (structured outputs, forced tool calls),
// built by the frontends (daemon/constraint/) and driven by the engine: before each sample the
// engine asks for the mask, after it reports the token.
// Owned by the engine thread once submitted; implementations need not be thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace mm {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Fills `bitmask` ([ceil(vocab / 32)] words): bit i % 32 of word i / 32 set when token i may
  // come next. Words past the constraint's vocabulary are zero.
  virtual void fill_allowed(std::span<uint32_t> bitmask) = 0;
  // The sampled token; false when the constraint refuses it (the request then fails).
  virtual bool advance(int32_t token_id) = 0;
  // True once the answer is complete (its end token taken): the request then stops.
  virtual bool finished() const { return false; }
};

}  // namespace mm
