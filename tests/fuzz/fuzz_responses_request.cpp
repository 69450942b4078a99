// The Responses API's request reader on arbitrary bytes: a ResponsesRequest or an ApiError, never
// a crash. A body it accepts then drives a ResponsesWriter with pieces cut from the same bytes
// (reasoning, text and tool-call deltas in an order the bytes pick), and every event the writer
// makes must be one line of valid JSON.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "daemon/frontends/http/responses_request.h"
#include "daemon/frontends/http/responses_response.h"

namespace {

void check_events(const std::string& sse) {
  std::istringstream lines(sse);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    if (!nlohmann::json::accept(line.substr(6))) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > size_t{256} * 1024) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  mm::http::ResponsesRequest request;
  try {
    request = mm::http::parse_responses_request(body);
  } catch (const mm::http::ApiError&) {
    return 0;
  }
  mm::http::ResponsesWriter writer(request.echo, "model", true, "0", 0);
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
    check_events(writer.push(delta, ++num_tokens));
  }
  check_events(
      writer.end({.finish_reason = size % 2 ? "stop" : "length", .completion_tokens = num_tokens}));
  return 0;
}
