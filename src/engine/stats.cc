// Counters as text.
#include "engine/stats.h"

#include <fmt/format.h>

#include <string_view>

namespace sn {

std::string counters_text(const StackCounters& c, int indent) {
  std::string out;
  c.for_each([&](const char* name, uint64_t v) {
    if (v != 0 || std::string_view(name).substr(0, 5) != "drop_")
      out += fmt::format("{:{}}{:<28} {}\n", "", indent, name, v);
  });
  return out;
}

}  // namespace sn
