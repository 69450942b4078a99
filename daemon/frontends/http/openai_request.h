// The OpenAI API's request bodies (/v1/chat/completions, /v1/completions, /tokenize,
// /detokenize) read into native values, with vLLM's extra sampling fields. Strict: malformed
// JSON, an unknown field or a wrong type is an ApiError naming the field (and, for bad JSON,
// the byte offset). Sampling ranges are not checked here but by mm::check_sampling_options,
// the one check HTTP, shm and D-Bus share. Pure functions; thread-safe; fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/text/chat_request.h"
#include "ipc/protocol.h"

namespace mm::http {

// An error answered in vLLM's JSON shape: {"error": {"message", "type", "param", "code"}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = {})
      : std::runtime_error(message), status_(status), param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string param_;
};

// The OpenAI error type for an HTTP status ("BadRequestError", "NotFoundError", ...).
const char* error_type(int status);
// The error body vLLM sends.
std::string error_body(int status, const std::string& message, const std::string& param = {});

struct GenerationRequest {
  bool chat = false;
  std::string model;  // empty: the served model
  // Chat: the one native form every frontend builds (daemon/text/chat_request.h).
  text::ChatRequest chat_request;
  // Completions: text, or token ids.
  std::optional<std::string> prompt;
  std::vector<int32_t> prompt_token_ids;
  // Every prompt of a completions request, in order: a batch (a list of strings or of token-id
  // lists) answers one choice each. `prompt` / `prompt_token_ids` hold the first.
  struct Prompt {
    std::optional<std::string> text;
    std::vector<int32_t> token_ids;
  };
  std::vector<Prompt> prompts;
  bool echo = false;
  bool echo_only = false;  // echo with max_tokens 0: the prompt scored, nothing generated
  // vLLM's prompt_logprobs (-1: none); echo with logprobs implies it (= logprobs).
  int prompt_logprobs = -1;
  bool return_tokens_as_token_ids = false;  // vLLM's: tokens read "token_id:N"
  // Both.
  ipc::SamplingOptions sampling;  // logprobs: -1 unless asked for
  bool stream = false;
  bool include_usage = false;               // stream_options.include_usage
  bool skip_special_tokens = true;          // vLLM's
  bool include_stop_str_in_output = false;  // vLLM's
  bool return_token_ids = false;            // vLLM's: prompt_token_ids and token_ids answered
  int priority = 0;                         // vLLM's: smaller is admitted first
  std::vector<std::string> ignored_fields;  // sent, accepted, changing nothing (logged at debug)
};

GenerationRequest parse_chat_request(std::string_view body);
GenerationRequest parse_completion_request(std::string_view body);

// POST /tokenize: a prompt or chat messages; POST /detokenize: token ids.
struct TokenizeRequest {
  std::optional<std::string> prompt;
  std::optional<text::ChatRequest> chat;  // messages given
  bool add_special_tokens = false;        // prompts only (the chat template writes BOS)
  bool return_token_strs = false;
};
TokenizeRequest parse_tokenize_request(std::string_view body);
std::vector<int32_t> parse_detokenize_request(std::string_view body);

}  // namespace mm::http
