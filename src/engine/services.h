// Built-in services that run inside a shard (embedded mode): `udp-echo:PORT`,
// `tcp-echo:PORT` and `discard:PORT`. Each is small and uses only the shard's socket API.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "stack/stack.h"

namespace sn {

struct ServiceSpec {
  std::string kind;  // "udp-echo", "tcp-echo", "discard"
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
