// Built-in services that run inside a shard (embedded mode): `udp-echo:PORT`,
// `tcp-echo:PORT`, `discard:PORT`, `source:PORT` (writes byte n mod 256 at
// stream offset n for as long as the peer reads: bulk download) and
// `http:PORT:DIR`. Each is small and uses only the shard's socket API.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "stack/stack.h"

namespace sn {

struct ServiceSpec {
  std::string kind;  // "udp-echo", "tcp-echo", "discard", "source", "http"
  L4Port port;
  std::string arg;  // kind-specific (a directory for http, later)
};

// Parses KIND:PORT[:ARG]; on error returns an Error and sets *why.
Result<ServiceSpec> parse_service_spec(std::string_view text, std::string* why);

class Service {
 public:
  virtual ~Service() = default;
};

// Starts `spec` on `stack`.
Result<std::unique_ptr<Service>> start_service(Stack& stack, const ServiceSpec& spec);

}  // namespace sn
