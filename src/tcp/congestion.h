// The congestion controller seam (RFC 5681 §3): what a connection tells its
// controller (new data acknowledged, loss detected, recovery progress,
// timeouts, idleness) and what it answers (cwnd and ssthresh, in bytes).
// Two controllers implement it: NewReno (newreno.h; RFC 5681, RFC 6582) and
// CUBIC (cubic.h; RFC 9438). Both keep RFC 6582 fast recovery, so the
// connection drives either one with the same calls.
//
// What the connection must do around a controller:
// - One controller per connection, held in place (tcp/controller.h): no
//   allocation. Every call is plain arithmetic on the controller's own
//   members: the per-segment calls never allocate, never read a clock
//   (`now` is handed in) and never fail.
// - Send while (bytes in flight) < cwnd() (and the peer's window allows).
// - on_ack() for every ACK that acknowledges new data while not in fast
//   recovery. `in_flight` is the bytes outstanding *before* the ACK
//   (SND.NXT - SND.UNA as it was). The controllers grow cwnd only when the
//   sender was using it (see RenoWindow::cwnd_limited), so pass the real
//   figure: an application-limited sender does not inflate its window
//   (RFC 7661 §4.3, RFC 9438 §5.8).
// - Fast recovery is the connection's (RFC 6582 §3.2, with its `recover`
//   variable): on the third duplicate ACK (or SACK-based loss detection) when
//   the ACK covers more than `recover`, call on_enter_recovery() with the
//   bytes outstanding; then, until an ACK covers `recover`, call
//   on_dup_ack_in_recovery() for each further duplicate ACK and
//   on_partial_ack() for each ACK of new data that does not reach `recover`;
//   the ACK that covers `recover` is reported by on_exit_recovery() with the
//   bytes still outstanding *after* it, and not also by on_ack().
//   The recovery calls are ignored when the controller is not in recovery.
// - SACK-based recovery (RFC 6675 §5) enters with on_enter_sack_recovery()
//   instead: no inflation, and neither on_dup_ack_in_recovery() nor
//   on_partial_ack() follows (the connection counts what is in the network
//   with RFC 6675's pipe); it ends with on_exit_recovery() or on_rto().
// - on_rto() each time the retransmission timer fires, with the bytes
//   outstanding. It ends fast recovery (RFC 6582 §3.2 step 4). Repeated
//   timeouts with no new data acknowledged in between keep ssthresh
//   (RFC 5681 §3.1).
// - on_idle_restart() before sending after an idle period longer than the RTO
//   (RFC 5681 §4.1).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "base/time.h"

namespace sn {

struct CongestionConfig {
  uint32_t mss;  // SMSS in bytes. REQUIRES: > 0
  // IW in segments (RFC 6928 §2: 10). We count the initial window in segments,
  // as Linux does, and do not apply RFC 6928's 14600-byte cap for large MSS.
  // REQUIRES: >= 1
  uint32_t initial_window_segments = 10;
};

// The largest cwnd the controllers keep: the largest window TCP can use
// (RFC 7323 §2.3: 2^30 bytes with the largest window scale). The bound also
// keeps every sum of windows and segments below 2^32.
inline constexpr uint32_t kMaxCongestionWindow = 1u << 30;

// The initial (and restart) window in bytes: initial_window_segments * mss,
// at most kMaxCongestionWindow.
uint32_t initial_window(const CongestionConfig& config);

enum class CongestionAlgorithm { kNewReno, kCubic };

// "newreno" or "cubic", as a configuration file or command line spells them.
std::optional<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name);
const char* to_string(CongestionAlgorithm algorithm);

// One per connection. Quantities in bytes; time as Instant and Duration.
class CongestionControl {
 public:
  virtual ~CongestionControl() = default;

  virtual uint32_t cwnd() const = 0;
  virtual uint32_t ssthresh() const = 0;

  // New data acknowledged, not during fast recovery: `acked` bytes, an RTT
  // sample if this ACK gave one, the bytes in flight before the ACK.
  virtual void on_ack(uint32_t acked, std::optional<Duration> rtt, uint32_t in_flight,
                      Instant now) = 0;

  // Fast retransmit (third duplicate ACK, or SACK loss detection): RFC 5681
  // §3.2 steps 2-3 and RFC 6582 §3.2 step 2. Sets ssthresh from the bytes in
  // flight and inflates cwnd to ssthresh + 3*SMSS.
  virtual void on_enter_recovery(uint32_t in_flight, Instant now) = 0;
  // In recovery: another duplicate ACK (RFC 5681 §3.2 step 4: cwnd += SMSS).
  virtual void on_dup_ack_in_recovery() = 0;
  // In recovery: a partial ACK of `acked` bytes (RFC 6582 §3.2 step 3,
  // "Partial acknowledgments"; step 5 in RFC 3782's numbering): deflate by
  // `acked`, add back SMSS if at least SMSS was acknowledged.
  virtual void on_partial_ack(uint32_t acked) = 0;
  // The full ACK ending recovery (RFC 6582 §3.2 step 3, "Full
  // acknowledgments", option 1): cwnd = min(ssthresh, max(in_flight, SMSS) +
  // SMSS), where `in_flight` is what is outstanding after this ACK.
  virtual void on_exit_recovery(uint32_t in_flight, Instant now) = 0;
  // SACK-based loss recovery (RFC 6675 §5 step 4.2, "ssthresh = cwnd =
  // (FlightSize / 2)"): ssthresh as on_enter_recovery() sets it, from the
  // bytes in flight and the controller's decrease (CUBIC's beta); cwnd =
  // ssthresh, not inflated by 3*SMSS.
  virtual void on_enter_sack_recovery(uint32_t in_flight, Instant now) = 0;

  // Retransmission timeout: cwnd = 1 SMSS, the loss window (RFC 5681 §3.1);
  // ssthresh from the bytes in flight (eqn 4 for NewReno, RFC 9438 §4.8 for
  // CUBIC), unless the previous timeout has not been answered by any ACK.
  virtual void on_rto(uint32_t in_flight, Instant now) = 0;

  // Before sending after an idle period longer than the RTO: cwnd =
  // min(cwnd, IW), the restart window of RFC 5681 §4.1.
  virtual void on_idle_restart(Instant now) { (void)now; }
};

}  // namespace sn
