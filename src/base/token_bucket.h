// A token bucket: `rate` tokens a second up to `burst`, taken one at a time.
// Integer arithmetic in nanoseconds, so it is exact on virtual time. Used for
// ICMP errors (RFC 1812 §4.3.2.8) and TCP challenge ACKs (RFC 5961 §7).
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/time.h"

namespace sn {

class TokenBucket {
 public:
  // A rate of 0 means no limit.
  TokenBucket(uint32_t rate, uint32_t burst, Instant now)
      : rate_(rate), burst_(burst), tokens_(burst), refilled_(now) {}

  // Takes a token if one is left at `now`.
  bool take(Instant now) {
    if (rate_ == 0) return true;
    if (now > refilled_) {
      // One token every 1e9 / rate ns; the remainder carries over.
      const int64_t per_token = std::max<int64_t>(1, 1'000'000'000 / rate_);
      const int64_t elapsed = (now - refilled_).ns();
      const int64_t add = elapsed / per_token;
      if (add > 0) {
        tokens_ = static_cast<uint32_t>(std::min<int64_t>(burst_, tokens_ + add));
        refilled_ = tokens_ == burst_ ? now : refilled_ + Duration::nanos(add * per_token);
      }
    }
    if (tokens_ == 0) return false;
    --tokens_;
    return true;
  }

  uint32_t tokens() const { return tokens_; }

 private:
  uint32_t rate_;
  uint32_t burst_;
  uint32_t tokens_;
  Instant refilled_;
};

}  // namespace sn
