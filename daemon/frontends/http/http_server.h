// The HTTP/1.1 server under the OpenAI API: a libuv TCP listener on the daemon's loop and one
// HttpConnection per client. Keep-alive; one request in flight per connection (pipelined
// requests wait their turn); responses whole or streamed (chunked, for SSE); limits on
// header and body size and on the number of connections; an idle timeout between requests and
// deadlines for a request's whole header and whole body (a slow-drip sender cannot hold a
// connection by trickling bytes); `Expect: 100-continue` answered; a client that half-closes
// after sending still gets its answer. What a request means is the HttpHandler's business.
// Everything here runs on the loop thread.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "daemon/frontends/http/http_request_reader.h"

namespace mm::http {

class HttpConnection;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // A complete request. The handler answers through `connection` now or later (respond or
  // a stream); until it has, the connection reads no further request.
  virtual void handle(HttpConnection& connection, HttpRequest request) = 0;
  // The client went away (or the server closed it) with a request unanswered: `connection`
  // is about to be destroyed and must not be used afterwards.
  virtual void connection_lost(HttpConnection& connection) = 0;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;
  HttpLimits limits;
  std::chrono::milliseconds idle_timeout{60000};  // between requests
  std::chrono::milliseconds header_timeout{
      10000};                                     // from a request's first byte to its last header
  std::chrono::milliseconds body_timeout{60000};  // from its last header to its last body byte
  // Connections open at once; one more is answered 503 and closed. 0: no limit.
  int max_connections = 512;
  size_t max_write_queue_bytes =
      16 * 1024 * 1024;  // a stream's reader that falls this far behind is dropped
};

class HttpServer {
 public:
  HttpServer(uv_loop_t* loop, HttpServerOptions options, HttpHandler& handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; throws std::runtime_error naming the address and the reason.
  void start();
  // The port actually bound (differs from the option when it was 0).
  int port() const { return port_; }
  // Stops accepting; idle keep-alive connections close, busy ones close after their answer.
  void stop_accepting();
  // Closes the listener and every connection (handlers see connection_lost for open ones).
  // The server must live until the loop has run their close callbacks.
  void close();
  int num_connections() const { return static_cast<int>(connections_.size()); }

  // For connections.
  const HttpServerOptions& options() const { return options_; }
  HttpHandler& handler() { return handler_; }
  bool accepting() const { return accepting_; }
  void connection_closed(uint64_t id);
  uv_loop_t* loop() { return loop_; }

 private:
  static void on_connection(uv_stream_t* listener, int status);
  void log_refusal(const std::string& what);

  uv_loop_t* loop_;
  HttpServerOptions options_;
  HttpHandler& handler_;
  uv_tcp_t* listener_ = nullptr;  // heap: freed in its close callback
  int port_ = 0;
  bool accepting_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, HttpConnection*> connections_;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  uint64_t refusals_unlogged_ = 0;
};

class HttpConnection {
 public:
  HttpConnection(HttpServer& server, uint64_t id);
  ~HttpConnection();

  uint64_t id() const { return id_; }
  std::string peer() const;
  // Answers the current request in one piece.
  void respond(int status, const std::string& content_type, const std::string& body,
               const HeaderList& extra_headers = {});
  // Starts a chunked response (SSE: text/event-stream), then any number of chunks, then end.
  void start_stream(int status, const std::string& content_type,
                    const HeaderList& extra_headers = {});
  void stream(const std::string& data);
  void end_stream();
  // Bytes written but not yet taken by the client's socket.
  size_t write_queue_bytes() const;
  // Closes now; a pending request is reported to the handler as lost. A graceful shutdown
  // under way (the answer still draining) is left to finish unless `force`.
  void close(bool force = false);

  // For the server.
  void start(uv_stream_t* listener);
  // Accepts, answers 503 with `message` and closes (over the connection limit).
  void refuse(uv_stream_t* listener, const std::string& message);
  void finish_close();
  void server_stopping();

 private:
  // Sets up both handles and accepts the pending connection; false (and closing) on failure.
  bool accept(uv_stream_t* listener);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* timer);
  void process();
  void arm_timer();
  void answered();
  void write(std::string data);
  void fail(const HttpParseError& error);
  std::string head(int status, const std::string& content_type, const HeaderList& extra,
                   const std::string& length_or_chunked) const;

  HttpServer& server_;
  uint64_t id_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  HttpRequestReader reader_;
  std::string unparsed_;  // bytes read past the request in flight
  bool busy_ = false;     // a request is being answered
  bool streaming_ = false;
  bool keep_alive_ = true;      // of the request in flight
  bool closing_ = false;        // no more reads or answers
  bool shutting_down_ = false;  // uv_shutdown pending: the answer drains, then it closes
  bool closed_ = false;         // uv_close called on both handles
  bool in_process_ = false;
  bool peer_closed_ = false;    // the client shut its sending side down (EOF)
  bool head_only_ = false;      // the request in flight is a HEAD: headers, no body
  bool continue_sent_ = false;  // 100 Continue for the request in progress
  // Which deadline the timer runs: between requests, for the headers, for the body.
  enum class Wait : uint8_t { kIdle, kHeader, kBody, kNone } wait_ = Wait::kNone;
  int handles_open_ = 0;
  std::string read_buffer_;
};

}  // namespace mm::http
