// `http:PORT:DIR`: a static file server inside a shard. HTTP/1.1 GET and HEAD,
// keep-alive (and pipelining), Content-Length, 400/404/405/414/431/505, and no
// way out of DIR (the resolved path must lie under DIR's resolved path, so
// neither ".." nor a symbolic link leads elsewhere).
//
// The file is read with pread() on the shard's thread as the connection can
// take more: fine for files the page cache holds; a shard-owned I/O queue is
// the next step (noted in the issue).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "engine/services.h"

namespace sn {

// One parsed request head (request line and headers).
struct HttpRequest {
  std::string method;
  std::string path;  // percent-decoded, query removed
  bool keep_alive = true;
  size_t head_size = 0;  // bytes the head took, CRLFCRLF included
};

// Parses the request head at the start of `buf`. Returns nullopt when more
// bytes are needed; an Error with the HTTP status as its message ("400",
// "414", "431", "505") when the head is bad.
Result<std::optional<HttpRequest>> parse_http_request(std::string_view buf);

// Starts the server for `spec` (spec.arg is the directory).
Result<std::unique_ptr<Service>> start_http_service(Stack& stack, const ServiceSpec& spec);

}  // namespace sn
