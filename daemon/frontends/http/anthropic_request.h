// Anthropic's Messages API request bodies (POST /v1/messages and /v1/messages/count_tokens) read
// into the one native chat form (text::ChatRequest inside a GenerationRequest), so that a
// conversation sent this way renders the same prompt as the same conversation sent to
// /v1/chat/completions. system (a string or text blocks), content blocks (text, tool_use,
// tool_result, thinking, redacted_thinking), tools with input_schema, tool_choice auto / any /
// tool / none, stop_sequences, temperature, top_p, top_k and the required max_tokens. Strict:
// malformed JSON, an unknown field, a wrong type or a block this text-only model cannot read is
// an ApiError(400) naming the field path ("messages[2].content[0].tool_use_id"). Pure functions;
// thread-safe; fuzzed by tests/fuzz/fuzz_anthropic_request.cpp.
#pragma once

#include <string>
#include <string_view>

#include "daemon/frontends/http/openai_request.h"
#include "daemon/text/chat_request.h"

namespace mm::http {

// POST /v1/messages. The result has chat = true; `stream` and sampling.stop (stop_sequences) set.
GenerationRequest parse_messages_request(std::string_view body);

// POST /v1/messages/count_tokens: the same conversation fields, no sampling.
struct CountTokensRequest {
  std::string model;
  text::ChatRequest chat;
  std::vector<std::string> ignored_fields;
};
CountTokensRequest parse_count_tokens_request(std::string_view body);

}  // namespace mm::http
