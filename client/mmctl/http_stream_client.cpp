#include "client/mmctl/http_stream_client.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mm {

struct HttpStreamClient::Impl {
  std::string host;
  int port = 0;
  int fd = -1;

  // One response's state, driven by http-parser callbacks.
  http_parser parser{};
  http_parser_settings settings{};
  const std::function<void(const std::string&)>* on_event = nullptr;
  std::string pending;  // SSE bytes not yet ending in a blank line
  std::string body;     // non-SSE body
  bool sse = false;
  bool in_content_type = false;
  bool done = false;

  void connect_socket() {
    fd = ::socket(host.find(':') != std::string::npos ? AF_INET6 : AF_INET,
                  SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = -1;
    if (host.find(':') != std::string::npos) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      if (::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1)
        throw std::runtime_error("not an IPv6 address: " + host);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      const std::string h = host == "localhost" ? "127.0.0.1" : host;
      if (::inet_pton(AF_INET, h.c_str(), &a.sin_addr) != 1)
        throw std::runtime_error("not an IPv4 address: " + host);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      fd = -1;
      throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                               why);
    }
  }

  static Impl& self(http_parser* p) { return *static_cast<Impl*>(p->data); }
};

HttpStreamClient::HttpStreamClient(const std::string& url) : impl_(std::make_unique<Impl>()) {
  std::string rest = url;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size())
    throw std::runtime_error("--http wants http://HOST:PORT, not '" + url + "'");
  impl_->host = rest.substr(0, colon);
  if (impl_->host.size() > 2 && impl_->host.front() == '[')
    impl_->host = impl_->host.substr(1, impl_->host.size() - 2);
  impl_->port = std::stoi(rest.substr(colon + 1));
  auto& s = impl_->settings;
  http_parser_settings_init(&s);
  s.on_header_field = [](http_parser* p, const char* at, size_t n) {
    Impl::self(p).in_content_type =
        std::string_view(at, n) == "Content-Type" || std::string_view(at, n) == "content-type";
    return 0;
  };
  s.on_header_value = [](http_parser* p, const char* at, size_t n) {
    Impl& i = Impl::self(p);
    if (i.in_content_type && std::string_view(at, n).starts_with("text/event-stream")) i.sse = true;
    return 0;
  };
  s.on_body = [](http_parser* p, const char* at, size_t n) {
    Impl& i = Impl::self(p);
    if (!i.sse) {
      i.body.append(at, n);
      return 0;
    }
    i.pending.append(at, n);
    size_t end;
    while ((end = i.pending.find("\n\n")) != std::string::npos) {
      std::string event = i.pending.substr(0, end);
      i.pending.erase(0, end + 2);
      if (event.starts_with("data: ")) (*i.on_event)(event.substr(6));
    }
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    Impl::self(p).done = true;
    return 0;
  };
  impl_->connect_socket();
}

HttpStreamClient::~HttpStreamClient() {
  if (impl_->fd >= 0) ::close(impl_->fd);
}

int HttpStreamClient::post(const std::string& path, const std::string& body,
                           const std::function<void(const std::string&)>& on_event) {
  Impl& i = *impl_;
  const std::string request =
      "POST " + path + " HTTP/1.1\r\nHost: " + i.host +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(i.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  http_parser_init(&i.parser, HTTP_RESPONSE);
  i.parser.data = &i;
  i.on_event = &on_event;
  i.pending.clear();
  i.body.clear();
  i.sse = false;
  i.done = false;
  char buffer[65536];
  while (!i.done) {
    const ssize_t n = ::recv(i.fd, buffer, sizeof buffer, 0);
    if (n <= 0) throw std::runtime_error("the daemon closed the connection mid-response");
    const size_t used = http_parser_execute(&i.parser, &i.settings, buffer, static_cast<size_t>(n));
    if (HTTP_PARSER_ERRNO(&i.parser) != HPE_OK || used != static_cast<size_t>(n))
      throw std::runtime_error(std::string("bad HTTP response: ") +
                               http_errno_description(HTTP_PARSER_ERRNO(&i.parser)));
  }
  if (!i.sse) on_event(i.body);
  return static_cast<int>(i.parser.status_code);
}

}  // namespace mm
