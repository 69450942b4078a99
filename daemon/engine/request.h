// What frontends hand the engine and what the engine hands back: native types, no wire format.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/engine/prompt_logprobs.h"
#include "daemon/engine/sampler.h"
#include "daemon/engine/sampling_params.h"
#include "daemon/engine/token_constraint.h"

namespace mm {

using RequestId = int64_t;

struct EngineRequest {
  std::vector<int32_t> prompt_token_ids;
  SamplingParams params;
  int priority = 0;  // smaller runs first
  // Structured output / forced tool call: which tokens may come next (null: any). The engine
  // thread owns it once submitted.
  std::shared_ptr<TokenConstraint> constraint;
};

enum class FinishReason : uint8_t {
  kStop,       // an EOS or stop token (or, one level up, a stop string)
  kLength,     // max_tokens or max_model_len reached
  kCancelled,  // cancel() or the client went away
  kError,      // the request could not run; the message says why
};
std::string_view finish_reason_name(FinishReason reason);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;  // served from the prefix cache at admission
};

// Receives one request's output. Called on the engine thread, in order, never concurrently
// for one request; implementations must not block (they queue and return). on_finish is the
// last call for a request.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void on_token(RequestId id, const SampleResult& token) = 0;
  // params.prompt_logprobs >= 0: once, when the whole prompt is computed, before any token:
  // the scores of prompt tokens 1..n-1 (the first has none), in order.
  virtual void on_prompt_logprobs(RequestId id, std::span<const ScoredToken> scores) {
    (void)id, (void)scores;
  }
  virtual void on_finish(RequestId id, FinishReason reason, const Usage& usage,
                         const std::string& message) = 0;
};

}  // namespace mm
