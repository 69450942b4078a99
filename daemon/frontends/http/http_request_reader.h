// HTTP/1.1 request framing on top of Node's http-parser (Debian's libhttp-parser): bytes in,
// one complete request out at a time, with mmd's limits on header and body size. No sockets:
// the connection feeds it, the fuzzer feeds it. Not thread-safe; one per connection.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mm::http {

struct HttpLimits {
  size_t max_header_bytes = 64 * 1024;       // request line and headers together
  size_t max_body_bytes = 32 * 1024 * 1024;  // a 200k-token chat fits with room to spare
};

struct HttpRequest {
  std::string method;
  std::string path;                                          // without the query
  std::string query;                                         // after '?', undecoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool keep_alive = true;

  const std::string* header(std::string_view lower_name) const;
};

// Why the bytes are not a request we take; `status` is the HTTP status to answer with (400,
// 413, 431, 501) before closing the connection.
struct HttpParseError {
  int status = 400;
  std::string message;
};

class HttpRequestReader {
 public:
  explicit HttpRequestReader(HttpLimits limits = {});
  HttpRequestReader(const HttpRequestReader&) = delete;
  HttpRequestReader& operator=(const HttpRequestReader&) = delete;

  // Parses from `data` until one request is complete or the data runs out; returns how many
  // bytes it consumed. The rest belongs to the next request: feed it after take().
  size_t feed(std::string_view data);
  bool has_request() const { return complete_; }
  // The completed request; parsing continues with the next feed().
  HttpRequest take();
  // Set once the stream is broken; nothing more can be parsed on this connection.
  const std::optional<HttpParseError>& error() const { return error_; }
  // True while part of a request has been read (the connection's deadlines then run).
  bool in_request() const { return started_ && !complete_; }
  // The request in progress has all its headers; only (part of) its body is missing.
  bool headers_done() const { return started_ && headers_done_; }
  // The request in progress asked for `Expect: 100-continue` before sending its body.
  bool expects_continue() const { return headers_done() && expect_continue_; }

 private:
  static int on_message_begin(http_parser* parser);
  static int on_url(http_parser* parser, const char* at, size_t length);
  static int on_header_field(http_parser* parser, const char* at, size_t length);
  static int on_header_value(http_parser* parser, const char* at, size_t length);
  static int on_headers_complete(http_parser* parser);
  static int on_body(http_parser* parser, const char* at, size_t length);
  static int on_message_complete(http_parser* parser);
  bool count_header_bytes(size_t length);
  void fail(int status, std::string message);

  HttpLimits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  HttpRequest current_;
  std::string url_;
  bool in_value_ = false;
  size_t header_bytes_ = 0;
  bool started_ = false;
  bool headers_done_ = false;
  bool expect_continue_ = false;
  bool complete_ = false;
  std::optional<HttpParseError> error_;
};

}  // namespace mm::http
