// Wire values to engine values and back, shared by the frontends: sampling options over the
// model's generation defaults become SamplingParams (the one place their ranges are checked),
// a request is fitted to the model's context and vocabulary; an EngineStatus becomes a
// StatusReply. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/request.h"
#include "daemon/frontends/text_adapter.h"
#include "daemon/text/chat_request.h"
#include "ipc/protocol.h"

namespace mm {

// A request refused before it reaches the engine: `field` is the option at fault (OpenAI's
// `param`), `message` says why and names it.
struct RequestError {
  std::string field;
  std::string message;
};

// The one range check of the sampling options every frontend reads (HTTP, shm, D-Bus; their
// wire readers check types only), with vLLM's limits (SamplingParams._verify_args):
// temperature in [0, 2], top_p in (0, 1], top_k -1, 0 or more, min_p in [0, 1],
// repetition_penalty > 0, frequency and presence penalties in [-2, 2], max_tokens >= 1,
// min_tokens >= 0, logprobs -1 or up to 20, no empty stop string or bad word,
// truncate_prompt_tokens -1 or >= 1, token ids >= 0.
std::optional<RequestError> check_sampling_options(const ipc::SamplingOptions& options);

// Fills `params`: the options the client set (checked by check_sampling_options), over
// `defaults` (the model's generation config with --override-generation-config, from
// default_sampling_params). Returns the error, naming the field, or nullopt.
std::optional<RequestError> sampling_params_from(const ipc::SamplingOptions& options,
                                                 const SamplingParams& defaults,
                                                 SamplingParams& params);
// The same, the error as its message alone.
std::optional<std::string> to_sampling_params(const ipc::SamplingOptions& options,
                                              const SamplingParams& defaults,
                                              SamplingParams& params);

// The model's limits a request is held to once its prompt is known.
struct ModelLimits {
  int max_model_len = 0;  // 0: not checked
  int vocab_size = 0;     // the logits' size; 0: not checked
};

// The steps of a request that need its prompt and the model, done alike by every frontend
// once `request` holds the prompt ids and the sampling params: truncate_prompt_tokens keeps
// the prompt's last N ids; bad_words become token sequences through `text` (vLLM's rule: the
// word, and with a leading space when that is a different token sequence of the same length);
// allowed_token_ids must lie in the vocabulary; prompt plus an explicit max_tokens must fit in
// max_model_len (vLLM's 400), and an unset max_tokens is capped to what the context leaves.
// `prompt_field` names the prompt in errors ("messages", "prompt").
std::optional<RequestError> fit_request_to_model(const ipc::SamplingOptions& options,
                                                 const ModelLimits& limits, TextAdapter* text,
                                                 const std::string& prompt_field,
                                                 EngineRequest& request);

ipc::StatusReply to_status_reply(const EngineStatus& status);

// A Submit's chat as the native ChatRequest every frontend builds: tool calls, tools,
// tool_choice and template kwargs (JSON text on the wire) parsed once and checked by the same
// rules as HTTP's. Throws text::ChatRequestError naming the field ("messages[1].tool_calls").
text::ChatRequest to_chat_request(const ipc::Submit& submit);

}  // namespace mm
