// A blocking HTTP/1.1 client for one keep-alive connection to mmd's OpenAI endpoint, enough for
// `mmctl bench --http`: POST a JSON body, receive the answer whole or as server-sent events.
// Response framing (Content-Length or chunked) is http-parser's, the same library the daemon
// uses. One per thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace mm {

class HttpStreamClient {
 public:
  // `url`: http://HOST:PORT (an IPv4 or IPv6 literal, or localhost). Throws std::runtime_error.
  explicit HttpStreamClient(const std::string& url);
  ~HttpStreamClient();
  HttpStreamClient(const HttpStreamClient&) = delete;
  HttpStreamClient& operator=(const HttpStreamClient&) = delete;

  // Sends the request and calls `on_event` with each SSE event's data (without "data: ") as
  // it arrives, or once with the whole body for a non-SSE answer. Returns the HTTP status.
  // Throws std::runtime_error when the connection fails.
  int post(const std::string& path, const std::string& body,
           const std::function<void(const std::string&)>& on_event);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mm
