// HTTP/1.1 framing: whole, split and pipelined requests; the limits; broken input.
#include "daemon/frontends/http/http_request_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace mm::http {
namespace {

std::string post(const std::string& body, const std::string& extra = "") {
  return "POST /v1/completions?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n" +
         extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(HttpRequestReader, ReadsOneRequestWithHeadersQueryAndBody) {
  HttpRequestReader reader;
  const std::string bytes = post("{\"a\":1}", "X-Mixed-Case: V\r\n");
  EXPECT_EQ(reader.feed(bytes), bytes.size());
  ASSERT_TRUE(reader.has_request());
  const HttpRequest r = reader.take();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/completions");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.body, "{\"a\":1}");
  ASSERT_NE(r.header("x-mixed-case"), nullptr);  // names are lower-cased
  EXPECT_EQ(*r.header("x-mixed-case"), "V");
  EXPECT_TRUE(r.keep_alive);
}

TEST(HttpRequestReader, ByteByByteGivesTheSameRequest) {
  HttpRequestReader reader;
  const std::string bytes = post("hello");
  for (char c : bytes) {
    ASSERT_FALSE(reader.has_request());
    EXPECT_EQ(reader.feed(std::string_view(&c, 1)), 1u);
  }
  ASSERT_TRUE(reader.has_request());
  EXPECT_EQ(reader.take().body, "hello");
}

TEST(HttpRequestReader, PipelinedRequestsComeOutOneAtATime) {
  HttpRequestReader reader;
  const std::string first = post("1");
  const std::string both = first + "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n";
  const size_t used = reader.feed(both);
  EXPECT_EQ(used, first.size());  // stops after the first request
  EXPECT_EQ(reader.take().body, "1");
  EXPECT_EQ(reader.feed(std::string_view(both).substr(used)), both.size() - used);
  const HttpRequest second = reader.take();
  EXPECT_EQ(second.method, "GET");
  EXPECT_FALSE(second.keep_alive);
}

TEST(HttpRequestReader, ChunkedBodiesAreJoined) {
  HttpRequestReader reader;
  reader.feed(
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(reader.has_request());
  EXPECT_EQ(reader.take().body, "abcde");
}

TEST(HttpRequestReader, DeclaredBodyOverTheLimitIs413BeforeItArrives) {
  HttpRequestReader reader(HttpLimits{.max_header_bytes = 4096, .max_body_bytes = 100});
  reader.feed("POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
  ASSERT_TRUE(reader.error());
  EXPECT_EQ(reader.error()->status, 413);
  EXPECT_NE(reader.error()->message.find("101"), std::string::npos);
}

TEST(HttpRequestReader, ChunkedBodyOverTheLimitIs413) {
  HttpRequestReader reader(HttpLimits{.max_header_bytes = 4096, .max_body_bytes = 4});
  reader.feed("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n");
  ASSERT_TRUE(reader.error());
  EXPECT_EQ(reader.error()->status, 413);
}

TEST(HttpRequestReader, HeadersOverTheLimitAre431) {
  HttpRequestReader reader(HttpLimits{.max_header_bytes = 64, .max_body_bytes = 100});
  reader.feed("GET /x HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n");
  ASSERT_TRUE(reader.error());
  EXPECT_EQ(reader.error()->status, 431);
}

TEST(HttpRequestReader, GarbageIs400AndStaysBroken) {
  HttpRequestReader reader;
  reader.feed("NOT HTTP\r\n\r\n");
  ASSERT_TRUE(reader.error());
  EXPECT_EQ(reader.error()->status, 400);
  EXPECT_NE(reader.error()->message.find("malformed HTTP request"), std::string::npos);
  EXPECT_EQ(reader.feed(post("x")), 0u);
  EXPECT_FALSE(reader.has_request());
}

TEST(HttpRequestReader, UpgradeIsRefused) {
  HttpRequestReader reader;
  reader.feed("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_TRUE(reader.error());
  EXPECT_EQ(reader.error()->status, 501);
}

}  // namespace
}  // namespace mm::http
