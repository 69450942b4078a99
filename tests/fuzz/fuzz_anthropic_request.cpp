// Anthropic's Messages API readers (/v1/messages, /v1/messages/count_tokens) on arbitrary bytes: a
// request or an ApiError(400) naming what is wrong, never a crash. A body /v1/messages accepts
// then drives an AnthropicMessageWriter, streamed and whole, with pieces cut from the same bytes
// (thinking, text and tool-call deltas in an order the bytes pick): every event must be valid JSON
// and the whole message a JSON object.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "daemon/frontends/http/anthropic_request.h"
#include "daemon/frontends/http/anthropic_response.h"

namespace {

void check_events(const std::string& sse) {
  std::istringstream lines(sse);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("event: ", 0) == 0) continue;
    if (line.rfind("data: ", 0) != 0 || !nlohmann::json::accept(line.substr(6))) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    (void)mm::http::parse_count_tokens_request(body);
  } catch (const mm::http::ApiError& error) {
    if (error.status() != 400 || std::string_view(error.what()).empty()) std::abort();
  }
  mm::http::GenerationRequest request;
  try {
    request = mm::http::parse_messages_request(body);
  } catch (const mm::http::ApiError& error) {
    if (error.status() != 400 || std::string_view(error.what()).empty()) std::abort();
    return 0;
  }
  if (request.sampling.max_tokens < 1 || request.chat_request.messages.empty()) std::abort();
  mm::http::AnthropicMessageWriter stream(true, "msg_0", "model", 1);
  mm::http::AnthropicMessageWriter whole(false, "msg_0", "model", 1);
  int num_tokens = 0;
  for (size_t i = 0; i < size; i += 7) {
    const std::string piece(body.substr(i, 7));
    mm::ipc::Delta delta;
    switch (data[i] % 4) {
      case 0:
        delta.reasoning = piece;
        break;
      case 1:
        delta.text = piece;
        break;
      case 2:
        delta.tool_calls.push_back({static_cast<int>(data[i] % 3), "call_" + piece, piece, ""});
        break;
      default:
        delta.tool_calls.push_back({static_cast<int>(data[i] % 3), "", "", piece});
        break;
    }
    ++num_tokens;
    check_events(stream.push(delta, num_tokens));
    if (!whole.push(delta, num_tokens).empty()) std::abort();
  }
  if (size % 3 == 0) stream.set_stop_sequence("stop");
  const mm::http::OutputEnd end{.finish_reason = size % 2 ? "stop" : "length",
                                .completion_tokens = num_tokens};
  check_events(stream.end(end));
  if (!nlohmann::json::parse(whole.end(end), nullptr, false).is_object()) std::abort();
  return 0;
}
