// The congestion controller a connection holds, in place: either algorithm
// lives inside the connection, so making one (at setup, after the handshake
// settles the MSS, on TCP_CONGESTION) never allocates.
#pragma once

#include <variant>

#include "base/check.h"
#include "tcp/congestion.h"
#include "tcp/cubic.h"
#include "tcp/newreno.h"

namespace sn {

class Controller {
 public:
  // REQUIRES: config.mss > 0, config.initial_window_segments >= 1.
  Controller(CongestionAlgorithm algorithm, const CongestionConfig& config)
      : held_(std::in_place_type<NewReno>, config), cc_(&std::get<NewReno>(held_)) {
    if (algorithm != CongestionAlgorithm::kNewReno) make(algorithm, config);
  }
  Controller(const Controller&) = delete;  // cc_ points into held_
  Controller& operator=(const Controller&) = delete;

  // Replaces the controller with a fresh one of `algorithm`.
  void make(CongestionAlgorithm algorithm, const CongestionConfig& config) {
    switch (algorithm) {
      case CongestionAlgorithm::kNewReno:
        cc_ = &held_.emplace<NewReno>(config);
        return;
      case CongestionAlgorithm::kCubic:
        cc_ = &held_.emplace<Cubic>(config);
        return;
    }
    SN_CHECK(false && "unknown CongestionAlgorithm");
  }

  CongestionControl& operator*() { return *cc_; }
  const CongestionControl& operator*() const { return *cc_; }
  CongestionControl* operator->() { return cc_; }
  const CongestionControl* operator->() const { return cc_; }

 private:
  std::variant<NewReno, Cubic> held_;
  CongestionControl* cc_;
};

}  // namespace sn
