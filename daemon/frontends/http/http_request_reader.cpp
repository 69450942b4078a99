#include "daemon/frontends/http/http_request_reader.h"

#include <algorithm>
#include <cctype>

namespace mm::http {
namespace {

HttpRequestReader& self(http_parser* parser) {
  return *static_cast<HttpRequestReader*>(parser->data);
}

void lower(std::string& text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
}

}  // namespace

const std::string* HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

HttpRequestReader::HttpRequestReader(HttpLimits limits) : limits_(limits) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_message_complete = on_message_complete;
}

size_t HttpRequestReader::feed(std::string_view data) {
  if (error_ || complete_ || data.empty()) return 0;
  const size_t used = http_parser_execute(&parser_, &settings_, data.data(), data.size());
  const http_errno code = HTTP_PARSER_ERRNO(&parser_);
  if (code == HPE_PAUSED) return used;  // one request complete: the caller takes it
  if (code != HPE_OK && !error_) {
    const int status = code == HPE_HEADER_OVERFLOW ? 431 : 400;
    fail(status, std::string("malformed HTTP request: ") + http_errno_description(code));
  }
  return used;
}

HttpRequest HttpRequestReader::take() {
  HttpRequest out = std::move(current_);
  current_ = HttpRequest{};
  complete_ = false;
  started_ = false;
  headers_done_ = false;
  expect_continue_ = false;
  http_parser_pause(&parser_, 0);
  return out;
}

void HttpRequestReader::fail(int status, std::string message) {
  if (!error_) error_ = HttpParseError{status, std::move(message)};
}

bool HttpRequestReader::count_header_bytes(size_t length) {
  header_bytes_ += length;
  if (header_bytes_ <= limits_.max_header_bytes) return true;
  fail(431, "request headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes");
  return false;
}

int HttpRequestReader::on_message_begin(http_parser* parser) {
  HttpRequestReader& r = self(parser);
  r.current_ = HttpRequest{};
  r.url_.clear();
  r.in_value_ = false;
  r.header_bytes_ = 0;
  r.started_ = true;
  return 0;
}

int HttpRequestReader::on_url(http_parser* parser, const char* at, size_t length) {
  HttpRequestReader& r = self(parser);
  if (!r.count_header_bytes(length)) return -1;
  r.url_.append(at, length);
  return 0;
}

int HttpRequestReader::on_header_field(http_parser* parser, const char* at, size_t length) {
  HttpRequestReader& r = self(parser);
  if (!r.count_header_bytes(length)) return -1;
  if (r.in_value_ || r.current_.headers.empty()) {
    r.current_.headers.emplace_back();
    r.in_value_ = false;
  }
  r.current_.headers.back().first.append(at, length);
  return 0;
}

int HttpRequestReader::on_header_value(http_parser* parser, const char* at, size_t length) {
  HttpRequestReader& r = self(parser);
  if (!r.count_header_bytes(length)) return -1;
  if (r.current_.headers.empty()) return -1;  // http-parser never does this
  r.in_value_ = true;
  r.current_.headers.back().second.append(at, length);
  return 0;
}

int HttpRequestReader::on_headers_complete(http_parser* parser) {
  HttpRequestReader& r = self(parser);
  for (auto& header : r.current_.headers)
    lower(header.first);
  r.current_.method = http_method_str(static_cast<http_method>(parser->method));
  const size_t question = r.url_.find('?');
  r.current_.path = r.url_.substr(0, question);
  if (question != std::string::npos) r.current_.query = r.url_.substr(question + 1);
  r.current_.keep_alive = http_should_keep_alive(parser) != 0;
  if (parser->upgrade) {  // WebSocket, h2c, CONNECT: not spoken here
    r.fail(501, "protocol upgrades and CONNECT are not supported");
    return -1;
  }
  // A declared length over the limit is refused before a byte of it is read.
  if ((parser->flags & F_CONTENTLENGTH) != 0 && parser->content_length > r.limits_.max_body_bytes) {
    r.fail(413, "request body of " + std::to_string(parser->content_length) +
                    " bytes exceeds the limit of " + std::to_string(r.limits_.max_body_bytes));
    return -1;
  }
  r.headers_done_ = true;
  if (const std::string* expect = r.current_.header("expect")) {
    std::string value = *expect;
    lower(value);
    if (value == "100-continue") {
      r.expect_continue_ = true;
    } else {
      r.fail(417, "Expect: '" + *expect + "' is not supported (only 100-continue)");
      return -1;
    }
  }
  return 0;
}

int HttpRequestReader::on_body(http_parser* parser, const char* at, size_t length) {
  HttpRequestReader& r = self(parser);
  if (r.current_.body.size() + length > r.limits_.max_body_bytes) {
    r.fail(413, "request body exceeds the limit of " + std::to_string(r.limits_.max_body_bytes) +
                    " bytes");
    return -1;
  }
  r.current_.body.append(at, length);
  return 0;
}

int HttpRequestReader::on_message_complete(http_parser* parser) {
  HttpRequestReader& r = self(parser);
  r.complete_ = true;
  http_parser_pause(parser, 1);  // one request at a time: the next waits for take()
  return 0;
}

}  // namespace mm::http
