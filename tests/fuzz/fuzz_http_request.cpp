// HTTP framing and the OpenAI request bodies on arbitrary bytes: requests or HttpParseError /
// ApiError, never a crash. The first byte picks how the input is split across feed() calls,
// as a socket would deliver it.
#include <cstdint>
#include <string_view>

#include "daemon/frontends/http/http_request_reader.h"
#include "daemon/frontends/http/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 256 * 1024) return 0;
  const size_t step = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  mm::http::HttpRequestReader reader(
      mm::http::HttpLimits{.max_header_bytes = 8 * 1024, .max_body_bytes = 64 * 1024});
  while (!rest.empty() && !reader.error()) {
    const size_t used = reader.feed(rest.substr(0, step));
    rest.remove_prefix(used);
    if (reader.has_request()) {
      const mm::http::HttpRequest request = reader.take();
      try {
        if (request.path == "/v1/chat/completions") {
          (void)mm::http::parse_chat_request(request.body);
        } else if (request.path == "/v1/completions") {
          (void)mm::http::parse_completion_request(request.body);
        } else if (request.path == "/tokenize") {
          (void)mm::http::parse_tokenize_request(request.body);
        } else {
          (void)mm::http::parse_detokenize_request(request.body);
        }
      } catch (const mm::http::ApiError&) {
      }
    } else if (used == 0) {
      break;
    }
  }
  return 0;
}
