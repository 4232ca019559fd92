// The eleven connection states of RFC 9293 §3.3.2, named, with a printable form
// for traces and test output. Only Connection::set_state changes a state.
#pragma once

#include <ostream>

namespace sn {

enum class TcpState {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};

constexpr const char* to_string(TcpState s) {
  switch (s) {
    case TcpState::kClosed:
      return "CLOSED";
    case TcpState::kListen:
      return "LISTEN";
    case TcpState::kSynSent:
      return "SYN-SENT";
    case TcpState::kSynReceived:
      return "SYN-RECEIVED";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinWait1:
      return "FIN-WAIT-1";
    case TcpState::kFinWait2:
      return "FIN-WAIT-2";
    case TcpState::kCloseWait:
      return "CLOSE-WAIT";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kLastAck:
      return "LAST-ACK";
    case TcpState::kTimeWait:
      return "TIME-WAIT";
  }
  return "?";
}

// RFC 9293 §3.10.7.4: the states after the handshake, where a segment's ACK
// and sequence number are both checked against synchronized variables.
constexpr bool is_synchronized(TcpState s) {
  return s != TcpState::kClosed && s != TcpState::kListen && s != TcpState::kSynSent;
}

inline std::ostream& operator<<(std::ostream& os, TcpState s) {
  return os << to_string(s);
}

}  // namespace sn
