// Tests for the HTTP request parser of the static file server.
#include "engine/http.h"

#include <gtest/gtest.h>

namespace sn {
namespace {

std::optional<HttpRequest> ok(std::string_view s) {
  auto r = parse_http_request(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : std::nullopt;
}

std::string status_of(std::string_view s) {
  auto r = parse_http_request(s);
  return r.ok() ? "ok" : r.error().message;
}

TEST(HttpParse, GetWithKeepAliveByDefault) {
  auto r = ok("GET /a/b.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /next");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/a/b.txt");
  EXPECT_TRUE(r->keep_alive);
  EXPECT_EQ(r->head_size, 38u);  // 27 + 9 + 2; the pipelined "GET /next" is not part of it
}

TEST(HttpParse, ConnectionHeaderAndVersion) {
  EXPECT_FALSE(ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")->keep_alive);
  EXPECT_FALSE(ok("GET / HTTP/1.0\r\n\r\n")->keep_alive);
  EXPECT_TRUE(ok("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n")->keep_alive);
}

TEST(HttpParse, PercentDecoding) {
  EXPECT_EQ(ok("GET /a%20b%2Fc HTTP/1.1\r\nHost: h\r\n\r\n")->path, "/a b/c");
  EXPECT_EQ(status_of("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n"), "400");
  EXPECT_EQ(status_of("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n"), "400");
  EXPECT_EQ(status_of("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n"), "400");
}

TEST(HttpParse, IncompleteNeedsMore) {
  auto r = parse_http_request("GET / HTTP/1.1\r\nHost: h\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(HttpParse, BadHeads) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), "400");  // no Host in 1.1
  EXPECT_EQ(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), "400");
  EXPECT_EQ(status_of("GET relative HTTP/1.1\r\nHost: h\r\n\r\n"), "400");
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), "505");
  EXPECT_EQ(status_of("GET / FTP/1.0\r\nHost: h\r\n\r\n"), "400");
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), "400");
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nbroken\r\n\r\n"), "400");
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), "400");
  EXPECT_EQ(status_of("GET /" + std::string(3000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n"), "414");
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'a') + "\r\n\r\n"),
            "431");
  EXPECT_EQ(status_of(std::string(9000, 'a')), "431");  // no end of head in sight
}

}  // namespace
}  // namespace sn
