// Names of the congestion control algorithms, the initial window, and the
// factory that makes a connection's controller.
#include "tcp/congestion.h"

#include <algorithm>

#include "base/check.h"

namespace sn {

uint32_t initial_window(const CongestionConfig& config) {
  // RFC 6928 §2 raises IW to 10 segments; see CongestionConfig for the cap.
  const uint64_t iw = uint64_t{config.initial_window_segments} * config.mss;
  return static_cast<uint32_t>(std::min<uint64_t>(iw, kMaxCongestionWindow));
}

std::optional<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name) {
  if (name == "newreno") return CongestionAlgorithm::kNewReno;
  if (name == "cubic") return CongestionAlgorithm::kCubic;
  return std::nullopt;
}

const char* to_string(CongestionAlgorithm algorithm) {
  switch (algorithm) {
    case CongestionAlgorithm::kNewReno:
      return "newreno";
    case CongestionAlgorithm::kCubic:
      return "cubic";
  }
  return "unknown";
}

}  // namespace sn
