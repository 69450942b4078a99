// The OpenAI Responses API's request body (POST /v1/responses) read into the one native chat
// request: `input` items (messages, function_call, function_call_output, reasoning) and
// `instructions` become text::ChatRequest messages, flat function tools become OpenAI tool
// objects, max_output_tokens / temperature / top_p become SamplingOptions, text.format json_schema /
// json_object the chat's OutputFormat (constrained by daemon/constraint). mmd keeps no state:
// `store` is accepted and reported false, `previous_response_id` and `conversation` are refused.
// Strict like openai_request.h: an unknown field or a wrong type is an ApiError naming the field
// ("input[2].call_id"). Pure functions; thread-safe; fuzzed (tests/fuzz/fuzz_responses_request).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "daemon/frontends/http/openai_request.h"

namespace mm::http {

struct ResponsesRequest {
  // chat = true; the ChatRequest every frontend builds; sampling; stream.
  GenerationRequest generation;
  // What a Response object repeats of its request (instructions, max_output_tokens, metadata,
  // parallel_tool_calls, reasoning, temperature, text, tool_choice, tools, top_p, truncation,
  // user), with OpenAI's defaults where the request left them out.
  nlohmann::ordered_json echo = nlohmann::ordered_json::object();
};

ResponsesRequest parse_responses_request(std::string_view body);

}  // namespace mm::http
