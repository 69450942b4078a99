#include "daemon/frontends/http/http_server.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "daemon/service/log.h"

namespace mm::http {
namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

struct ShutdownRequest {
  uv_shutdown_t req{};
  HttpConnection* connection = nullptr;
};

std::string status_line(int status) {
  const char* reason = http_status_str(static_cast<http_status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
}

std::string hex(size_t n) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%zx", n);
  return buffer;
}

}  // namespace

// ---- server ----------------------------------------------------------------------------------

HttpServer::HttpServer(uv_loop_t* loop, HttpServerOptions options, HttpHandler& handler)
    : loop_(loop), options_(std::move(options)), handler_(handler) {}

HttpServer::~HttpServer() {
  close();
}

void HttpServer::start() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  sockaddr_storage address{};
  if (uv_ip4_addr(options_.host.c_str(), options_.port, reinterpret_cast<sockaddr_in*>(&address)) !=
          0 &&
      uv_ip6_addr(options_.host.c_str(), options_.port,
                  reinterpret_cast<sockaddr_in6*>(&address)) != 0) {
    throw std::runtime_error("HTTP: --host '" + options_.host + "' is not an IPv4 or IPv6 address");
  }
  listener_ = new uv_tcp_t{};
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&address), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, on_connection);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    listener_ = nullptr;
    throw std::runtime_error("HTTP: cannot listen on " + where + ": " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int length = sizeof bound;
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  accepting_ = true;
}

void HttpServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<HttpServer*>(listener->data);
  if (status < 0) {
    // libuv keeps a spare descriptor for EMFILE and drops the pending connection with it, so
    // this does not spin; it is said, at most once a second.
    self->log_refusal(std::string("HTTP: cannot accept a connection: ") + uv_strerror(status));
    return;
  }
  if (!self->accepting_) return;
  const uint64_t id = self->next_id_++;
  auto* connection = new HttpConnection(*self, id);
  self->connections_.emplace(id, connection);
  const int limit = self->options_.max_connections;
  if (limit > 0 && static_cast<int>(self->connections_.size()) > limit) {
    const std::string message = "too many HTTP connections (the limit is " + std::to_string(limit) +
                                ", --http-max-connections)";
    self->log_refusal("HTTP: refused a connection: " + message);
    connection->refuse(listener, message);
    return;
  }
  connection->start(listener);
}

void HttpServer::log_refusal(const std::string& what) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) {
    ++refusals_unlogged_;
    return;
  }
  std::string line = what;
  if (refusals_unlogged_ > 0)
    line += " (and " + std::to_string(refusals_unlogged_) + " more in the last second)";
  log_warning(line);
  last_refusal_log_ = now;
  refusals_unlogged_ = 0;
}

void HttpServer::stop_accepting() {
  accepting_ = false;
  if (listener_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    listener_ = nullptr;
  }
  std::vector<HttpConnection*> open;
  for (auto& [id, connection] : connections_)
    open.push_back(connection);
  for (HttpConnection* connection : open)
    connection->server_stopping();
}

void HttpServer::close() {
  stop_accepting();
  std::vector<HttpConnection*> open;
  for (auto& [id, connection] : connections_)
    open.push_back(connection);
  for (HttpConnection* connection : open)
    connection->close(true);
}

void HttpServer::connection_closed(uint64_t id) {
  connections_.erase(id);
}

// ---- connection ------------------------------------------------------------------------------

HttpConnection::HttpConnection(HttpServer& server, uint64_t id)
    : server_(server), id_(id), reader_(server.options().limits) {}

HttpConnection::~HttpConnection() = default;

bool HttpConnection::accept(uv_stream_t* listener) {
  uv_tcp_init(server_.loop(), &tcp_);
  uv_timer_init(server_.loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  handles_open_ = 2;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_)) == 0) return true;
  close();
  return false;
}

void HttpConnection::start(uv_stream_t* listener) {
  if (!accept(listener)) return;
  uv_tcp_nodelay(&tcp_, 1);  // SSE deltas are small and latency matters
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  arm_timer();
}

void HttpConnection::refuse(uv_stream_t* listener, const std::string& message) {
  if (!accept(listener)) return;
  busy_ = true;  // answering, with no request read: nothing is reported lost
  keep_alive_ = false;
  const nlohmann::json body = {{"error",
                                {{"message", message},
                                 {"type", "ServiceUnavailableError"},
                                 {"param", nullptr},
                                 {"code", 503}}}};
  respond(503, "application/json", body.dump(), {{"Retry-After", "1"}});
}

std::string HttpConnection::peer() const {
  sockaddr_storage address{};
  int length = sizeof address;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "?";
  char name[64] = {};
  if (address.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&address), name, sizeof name);
    return std::string("[") + name +
           "]:" + std::to_string(ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port));
  }
  uv_ip4_name(reinterpret_cast<sockaddr_in*>(&address), name, sizeof name);
  return std::string(name) + ":" +
         std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port));
}

void HttpConnection::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<HttpConnection*>(handle->data);
  self->read_buffer_.resize(size_t{64} * 1024);
  *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(self->read_buffer_.size()));
}

void HttpConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<HttpConnection*>(stream->data);
  if (nread == UV_EOF && !self->closing_) {
    // The client shut down its side (maybe right after sending, as `curl -T` or a scripted
    // client does): a request in flight is still answered; then the connection closes.
    self->peer_closed_ = true;
    uv_read_stop(stream);
    if (!self->busy_) {
      self->process();
      if (!self->busy_) self->close();
    }
    return;
  }
  if (nread < 0) {
    self->close();  // reset: a request in flight is cancelled by the handler
    return;
  }
  if (nread == 0 || self->closing_) return;
  self->unparsed_.append(buf->base, static_cast<size_t>(nread));
  // A client that piles up pipelined requests behind a long one waits for reading to resume.
  if (self->busy_ && self->unparsed_.size() > self->server_.options().limits.max_header_bytes +
                                                  self->server_.options().limits.max_body_bytes) {
    uv_read_stop(stream);
  }
  self->process();
}

void HttpConnection::process() {
  in_process_ = true;
  while (!busy_ && !closing_) {
    if (!unparsed_.empty()) {
      const size_t used = reader_.feed(unparsed_);
      unparsed_.erase(0, used);
    }
    if (reader_.error()) {
      fail(*reader_.error());
      break;
    }
    if (!reader_.has_request()) break;
    busy_ = true;
    wait_ = Wait::kNone;
    uv_timer_stop(&timer_);
    continue_sent_ = false;
    HttpRequest request = reader_.take();
    keep_alive_ = request.keep_alive;
    head_only_ = request.method == "HEAD";
    server_.handler().handle(*this, std::move(request));
    // The handler may have answered already (answered() cleared busy_): loop for the next one.
  }
  in_process_ = false;
  if (!busy_ && !closing_) {
    if (reader_.expects_continue() && !continue_sent_) {
      continue_sent_ = true;
      write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    arm_timer();
    if (!peer_closed_) uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  }
}

// Arms the deadline of what the connection waits for. A request's deadlines run from its first
// byte and from its last header, and bytes arriving do not restart them.
void HttpConnection::arm_timer() {
  const HttpServerOptions& options = server_.options();
  const Wait wait = busy_                    ? Wait::kNone
                    : reader_.headers_done() ? Wait::kBody
                    : reader_.in_request()   ? Wait::kHeader
                                             : Wait::kIdle;
  if (wait == wait_ && wait != Wait::kIdle) return;
  wait_ = wait;
  uv_timer_stop(&timer_);
  if (wait == Wait::kNone) return;
  if (wait == Wait::kIdle) continue_sent_ = false;
  const auto timeout = wait == Wait::kIdle     ? options.idle_timeout
                       : wait == Wait::kHeader ? options.header_timeout
                                               : options.body_timeout;
  uv_timer_start(&timer_, on_timer, static_cast<uint64_t>(timeout.count()), 0);
}

void HttpConnection::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<HttpConnection*>(timer->data);
  if (self->busy_) return;
  if (self->wait_ == Wait::kHeader || self->wait_ == Wait::kBody) {
    const bool header = self->wait_ == Wait::kHeader;
    const auto limit =
        header ? self->server_.options().header_timeout : self->server_.options().body_timeout;
    self->fail(HttpParseError{408, std::string("the request's ") + (header ? "headers" : "body") +
                                       " did not arrive within " +
                                       std::to_string(limit.count() / 1000.0).substr(0, 5) + " s"});
    return;
  }
  self->close();  // idle keep-alive
}

std::string HttpConnection::head(int status, const std::string& content_type,
                                 const HeaderList& extra,
                                 const std::string& length_or_chunked) const {
  std::string out = status_line(status);
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += length_or_chunked;
  for (const auto& [name, value] : extra)
    out += name + ": " + value + "\r\n";
  const bool keep = keep_alive_ && server_.accepting();
  out += keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  return out;
}

void HttpConnection::respond(int status, const std::string& content_type, const std::string& body,
                             const HeaderList& extra_headers) {
  if (closing_ || !busy_ || streaming_) return;
  write(head(status, content_type, extra_headers,
             "Content-Length: " + std::to_string(body.size()) + "\r\n") +
        (head_only_ ? std::string() : body));
  answered();
}

void HttpConnection::start_stream(int status, const std::string& content_type,
                                  const HeaderList& extra_headers) {
  if (closing_ || !busy_ || streaming_) return;
  streaming_ = true;
  write(head(status, content_type, extra_headers, "Transfer-Encoding: chunked\r\n"));
}

void HttpConnection::stream(const std::string& data) {
  if (closing_ || !streaming_ || data.empty()) return;
  write(hex(data.size()) + "\r\n" + data + "\r\n");
}

void HttpConnection::end_stream() {
  if (closing_ || !streaming_) return;
  write("0\r\n\r\n");
  streaming_ = false;
  answered();
}

size_t HttpConnection::write_queue_bytes() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

void HttpConnection::answered() {
  busy_ = false;
  wait_ = Wait::kNone;
  if (!keep_alive_ || !server_.accepting() || peer_closed_) {
    // Let the answer drain, then close: uv_close alone would drop queued writes.
    closing_ = true;
    shutting_down_ = true;
    uv_timer_stop(&timer_);
    auto* shutdown = new ShutdownRequest{};
    shutdown->connection = this;
    if (uv_shutdown(&shutdown->req, reinterpret_cast<uv_stream_t*>(&tcp_),
                    [](uv_shutdown_t* req, int) {
                      auto* s = reinterpret_cast<ShutdownRequest*>(req);
                      HttpConnection* connection = s->connection;
                      delete s;
                      // Done, or cancelled (UV_ECANCELED) by a forced close already under way.
                      connection->shutting_down_ = false;
                      connection->close(true);
                    }) != 0) {
      delete shutdown;
      shutting_down_ = false;
      close(true);
    }
    return;
  }
  // Inside process() the loop takes the next request itself; a later answer starts it here.
  if (!in_process_) process();
}

void HttpConnection::write(std::string data) {
  auto* request = new WriteRequest{};
  request->data = std::move(data);
  request->req.data = this;
  uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
  const int rc = uv_write(&request->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1,
                          [](uv_write_t* req, int status) {
                            auto* w = reinterpret_cast<WriteRequest*>(req);
                            auto* connection = static_cast<HttpConnection*>(req->data);
                            delete w;
                            if (status < 0 && status != UV_ECANCELED) connection->close();
                          });
  if (rc != 0) {
    delete request;
    close();
  }
}

void HttpConnection::fail(const HttpParseError& error) {
  const nlohmann::json body = {{"error",
                                {{"message", error.message},
                                 {"type", "BadRequestError"},
                                 {"param", nullptr},
                                 {"code", error.status}}}};
  busy_ = true;
  keep_alive_ = false;
  respond(error.status, "application/json", body.dump());
}

void HttpConnection::server_stopping() {
  if (!busy_ && !closing_) {
    close();
  } else {
    keep_alive_ = false;
  }
}

void HttpConnection::close(bool force) {
  if (handles_open_ == 0 || closed_) return;
  // A graceful shutdown lets the answer drain and closes in its callback; only the server's
  // own close (the daemon stopping) cuts it short.
  if (shutting_down_ && !force) return;
  closed_ = true;
  closing_ = true;
  if (busy_) {
    busy_ = false;
    server_.handler().connection_lost(*this);
  }
  auto closed = [](uv_handle_t* handle) {
    auto* self = static_cast<HttpConnection*>(handle->data);
    if (--self->handles_open_ == 0) self->finish_close();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
}

void HttpConnection::finish_close() {
  server_.connection_closed(id_);
  delete this;
}

}  // namespace mm::http
