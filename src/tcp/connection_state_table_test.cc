// RFC 9293 §3.10.7 as a table: for every state a connection can be in
// (SYN-SENT to TIME-WAIT; CLOSED and LISTEN belong to the demux), one row per
// kind of arriving segment, giving the state after, what is sent in reply and
// the error the connection ends with, with RFC 5961 (blind RST and SYN) and
// RFC 7323 (PAWS) folded in. Each row runs on a fresh Pair that reach() has
// put in the row's state. Where the code departs from the RFCs the row's
// `note` says so and why, and the row encodes what the code does.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "tcp/connection.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using testing::Pair;
using testing::pattern;
using testing::reach;
using testing::Side;
using testing::WireSegment;

// reach() gives the client ISS 1000 and the server ISS 5000; in SYN-SENT the
// peer's ISS is ours to choose.
constexpr uint32_t kPeerIss = 5000;
// What our side stamped as TSval (the ms of kStart, as now_ms() computes it),
// and the peer's TSval while none is recorded (SYN-SENT).
constexpr uint32_t kOurTsval = static_cast<uint32_t>(testing::kStart.ns() / 1'000'000);
constexpr uint32_t kPeerTsval = 700'000;
// 2048 << 7: the window each side already has from the handshake, so an ACK
// changes no window.
constexpr uint16_t kWindow = 2048;

// SEG.SEQ, relative to the receiver.
enum class Seq {
  kRcvNxt,       // RCV.NXT
  kRcvNxtPlus1,  // in the window but not at its left edge
  kBeyond,       // RCV.NXT + 2^30: past the right edge
  kFinRetx,      // RCV.NXT - 1: the peer's FIN, once RCV.NXT has passed it
  kIrs,          // IRS: the peer's SYN again
  kPeerIss,      // kPeerIss (SYN-SENT, where there is no RCV.NXT yet)
};

// SEG.ACK, relative to the receiver's send sequence space.
enum class Ack {
  kNone,          // ACK bit off, field 0
  kSndUna,        // SND.UNA: nothing new (in SYN-SENT and SYN-RECEIVED, ISS)
  kSndUnaMinus1,  // an old ACK
  kTooOld,        // SND.UNA - 2^30: below SND.UNA - MAX.SND.WND (RFC 5961 §5.2)
  kSndMax,        // SND.MAX: everything sent, our SYN or FIN included
  kSndMaxPlus1,   // acknowledges something not yet sent
};

// TSval = TS.Recent (acceptable), TS.Recent - 1 (PAWS), or no TSopt at all.
enum class Ts { kCurrent, kOlder, kNone };

// One kind of arriving segment.
struct Kind {
  const char* id;    // in test names
  const char* what;  // for people
  Seq seq;
  Ack ack;
  uint8_t flags;
  uint32_t len = 0;  // bytes of data
  Ts ts = Ts::kCurrent;
};

// clang-format off
// The synchronized states (§3.10.7.4).
constexpr Kind kRstAtRcvNxt{"RstAtRcvNxt", "RST at RCV.NXT",
    Seq::kRcvNxt, Ack::kNone, kTcpRst};
constexpr Kind kRstInWindow{"RstInWindow", "RST in window, not at RCV.NXT",
    Seq::kRcvNxtPlus1, Ack::kNone, kTcpRst};
constexpr Kind kRstOutOfWindow{"RstOutOfWindow", "RST past the window",
    Seq::kBeyond, Ack::kNone, kTcpRst};
constexpr Kind kSynInWindow{"SynInWindow", "SYN at RCV.NXT",
    Seq::kRcvNxt, Ack::kNone, kTcpSyn};
constexpr Kind kSynOutOfWindow{"SynOutOfWindow", "SYN past the window",
    Seq::kBeyond, Ack::kNone, kTcpSyn};
constexpr Kind kAckNothingNew{"AckNothingNew", "ACK = SND.UNA",
    Seq::kRcvNxt, Ack::kSndUna, kTcpAck};
constexpr Kind kAckOfAllSent{"AckOfAllSent", "ACK = SND.MAX (our SYN or FIN)",
    Seq::kRcvNxt, Ack::kSndMax, kTcpAck};
constexpr Kind kAckOfUnsent{"AckOfUnsent", "ACK = SND.MAX + 1 (not yet sent)",
    Seq::kRcvNxt, Ack::kSndMaxPlus1, kTcpAck};
constexpr Kind kOldAckWithData{"OldAckWithData", "10 bytes at RCV.NXT, ACK = SND.UNA - 1",
    Seq::kRcvNxt, Ack::kSndUnaMinus1, kTcpAck | kTcpPsh, 10};
constexpr Kind kAckBelowMaxSndWnd{"AckBelowMaxSndWnd",
    "10 bytes at RCV.NXT, ACK = SND.UNA - 2^30 (< SND.UNA - MAX.SND.WND)",
    Seq::kRcvNxt, Ack::kTooOld, kTcpAck | kTcpPsh, 10};
constexpr Kind kDataOutOfWindow{"DataOutOfWindow", "100 bytes past the window, ACK = SND.UNA",
    Seq::kBeyond, Ack::kSndUna, kTcpAck | kTcpPsh, 100};
constexpr Kind kDataInWindow{"DataInWindow", "100 bytes at RCV.NXT, ACK = SND.UNA",
    Seq::kRcvNxt, Ack::kSndUna, kTcpAck | kTcpPsh, 100};
constexpr Kind kDataAckingAll{"DataAckingAll", "100 bytes at RCV.NXT, ACK = SND.MAX",
    Seq::kRcvNxt, Ack::kSndMax, kTcpAck | kTcpPsh, 100};
constexpr Kind kFinAtRcvNxt{"FinAtRcvNxt", "FIN at RCV.NXT, ACK = SND.UNA",
    Seq::kRcvNxt, Ack::kSndUna, kTcpFin | kTcpAck};
constexpr Kind kFinAckingAll{"FinAckingAll", "FIN at RCV.NXT, ACK = SND.MAX",
    Seq::kRcvNxt, Ack::kSndMax, kTcpFin | kTcpAck};
constexpr Kind kFinRetransmitted{"FinRetransmitted",
    "the peer's FIN again (RCV.NXT - 1), ACK = SND.UNA",
    Seq::kFinRetx, Ack::kSndUna, kTcpFin | kTcpAck};
constexpr Kind kNoAckBit{"NoAckBit", "10 bytes at RCV.NXT, ACK bit off",
    Seq::kRcvNxt, Ack::kNone, kTcpPsh, 10};
constexpr Kind kPawsOld{"PawsOldTimestamp", "10 bytes at RCV.NXT, TSval = TS.Recent - 1",
    Seq::kRcvNxt, Ack::kSndUna, kTcpAck | kTcpPsh, 10, Ts::kOlder};
constexpr Kind kNoTimestamp{"NoTimestamp", "10 bytes at RCV.NXT without TSopt",
    Seq::kRcvNxt, Ack::kSndUna, kTcpAck | kTcpPsh, 10, Ts::kNone};
// SYN-RECEIVED only.
constexpr Kind kSynRetransmitted{"SynRetransmitted", "the peer's SYN again (SEG.SEQ = IRS)",
    Seq::kIrs, Ack::kNone, kTcpSyn};
constexpr Kind kSynAckOfOurSyn{"SynAckOfOurSyn", "SYN-ACK, SEG.SEQ = IRS, ACK = SND.MAX",
    Seq::kIrs, Ack::kSndMax, kTcpSyn | kTcpAck};
// SYN-SENT (§3.10.7.3). RCV.NXT is not known yet: SEG.SEQ is the peer's ISS.
constexpr Kind kSynAckAckingIss{"SynAckAckingIss", "SYN-ACK, ACK = ISS (=< ISS)",
    Seq::kPeerIss, Ack::kSndUna, kTcpSyn | kTcpAck};
constexpr Kind kAckPastSndNxt{"AckPastSndNxt", "ACK = SND.NXT + 1 (> SND.NXT)",
    Seq::kPeerIss, Ack::kSndMaxPlus1, kTcpAck};
constexpr Kind kRstAckUnacceptable{"RstAckUnacceptable", "RST-ACK, ACK = ISS",
    Seq::kPeerIss, Ack::kSndUna, kTcpRst | kTcpAck};
constexpr Kind kRstAckAcceptable{"RstAckAcceptable", "RST-ACK, ACK = SND.NXT",
    Seq::kPeerIss, Ack::kSndMax, kTcpRst | kTcpAck};
constexpr Kind kRstNoAck{"RstNoAck", "RST, ACK bit off",
    Seq::kPeerIss, Ack::kNone, kTcpRst};
constexpr Kind kSynAck{"SynAck", "SYN-ACK, ACK = SND.NXT",
    Seq::kPeerIss, Ack::kSndMax, kTcpSyn | kTcpAck};
constexpr Kind kBareSyn{"BareSyn", "SYN, ACK bit off (simultaneous open)",
    Seq::kPeerIss, Ack::kNone, kTcpSyn};
constexpr Kind kAckNoSynNoRst{"AckNoSynNoRst", "ACK = SND.NXT, neither SYN nor RST",
    Seq::kPeerIss, Ack::kSndMax, kTcpAck};
// clang-format on

enum class Reply {
  kNothing,     // and no ACK owed
  kDelayedAck,  // nothing now; the delayed-ACK timer is armed
  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. The code sends from SND.MAX, which
  // SND.NXT falls back from after an RTO (connection_output.cc); here the two
  // are equal, and the test checks both.
  kAck,
  kSynAck,  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
  kRst,     // <SEQ=SEG.ACK><CTL=RST>
};

// The counter that moves by one.
enum class Count { kNone, kBad, kChallenge, kPaws, kAckTooNew, kResetSent };

struct Expect {
  TcpState state;  // after the segment
  Reply reply;
  Count count = Count::kNone;
  uint32_t advance = 0;   // RCV.NXT moves by this (data taken, FIN)
  bool tw_timer = false;  // the 2 MSL timer (re)starts now
  TcpError error = TcpError::kNone;
};

constexpr Expect closes(TcpError e) {
  return {TcpState::kClosed, Reply::kNothing, Count::kNone, 0, false, e};
}

struct Row {
  TcpState state;
  Kind kind;
  Expect expect;
  const char* note = "";  // a departure from the RFCs, or a choice worth its reason
};

// Notes, quoted by the rows they concern.
constexpr const char* kSynRcvdRepliesSynAck =
    "DEVIATION: RFC 9293 §3.10.7.4 step 1, and RFC 5961 §3.2 and §4.2 for a challenge ACK, "
    "answer <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. In SYN-RECEIVED send_ack() repeats the SYN-ACK "
    "instead (connection_output.cc: 'our SYN is what is unacknowledged'), which also gets a "
    "peer whose ACK was lost to answer. Linux's request socket sends a bare ACK here "
    "(tcp_check_req) and repeats the SYN-ACK only for a retransmitted SYN.";
constexpr const char* kSynRcvdSynInWindow =
    "DEVIATION: RFC 9293 step 4 returns a passively opened SYN-RECEIVED connection to LISTEN on a "
    "SYN (the TCB goes); the code keeps it and answers RFC 5961 §4.2's challenge ACK, as "
    "connection_input.cc step 4 says ('RFC 5961 replaces both'), in the form of a SYN-ACK (see "
    "RstInWindow in SYN-RECEIVED).";
constexpr const char* kSynRcvdSimultaneousOpen =
    "DEVIATION (Linux-compatible): SEG.SEQ = IRS fails step 1, so RFC 9293 would ACK and drop it "
    "(RFC 5961: challenge ACK), though §3.5 figure 8 shows this segment establishing a "
    "simultaneous open. connection_input.cc lets exactly this segment through, as Linux's "
    "tcp_validate_incoming does; Linux only for a socket that came from SYN-SENT, the code for a "
    "passive open too (reach() makes this one passively), where nothing is sent.";
constexpr const char* kSynRcvdSynAgain =
    "SEG.SEQ = IRS fails step 1 (RFC 5961 §4.2: challenge ACK); the code's challenge ACK in "
    "SYN-RECEIVED is the SYN-ACK again, which is also what Linux sends for a retransmitted SYN.";
constexpr const char* kSynRcvdRst =
    "Passive open: RFC 9293 step 2 returns to LISTEN; the listener is the demux's, so this TCB "
    "goes, with kRefused as for an active open.";
constexpr const char* kSynSentRefused =
    "RFC 9293 §3.10.7.3 signals 'connection reset'; the code reports kRefused (ECONNREFUSED, as "
    "Linux's tcp_reset does in SYN_SENT). RFC 5961 §3.2 validates a RST in SYN-SENT by its ACK "
    "alone, as here.";
constexpr const char* kSynSentSynData =
    "§3.10.7.3 would queue text on the SYN for after ESTABLISHED; the code drops it (the peer "
    "sends it again); this SYN carries none.";
constexpr const char* kSecondFin =
    "DEVIATION (harmless): step 8 says to acknowledge a FIN in this state. This FIN lies past the "
    "one already received, which no correct peer sends; the code records a FIN only in "
    "ESTABLISHED and FIN-WAIT-1/2 (connection_input.cc step 8) and ignores this one without an "
    "ACK, as Linux does in CLOSE-WAIT, CLOSING and LAST-ACK (tcp_rcv_state_process, step 7).";
constexpr const char* kTimeWaitSecondFin =
    "DEVIATION (harmless): step 8 in TIME-WAIT says to ACK and restart the 2 MSL timeout, and "
    "Linux (tcp_timewait_state_process) does for a FIN at rcv_nxt. The code ignores it: it lies "
    "past the FIN already received, and only the retransmitted FIN (RCV.NXT - 1, failing step 1) "
    "restarts the timer, as connection_input.cc step 1 says and FreeBSD does.";
constexpr const char* kTimeWaitRetransmittedFin =
    "Step 1 ACKs it; the restart of 2 MSL is step 8's 'restart the 2 MSL time-wait timeout', "
    "applied to the retransmission it is meant for (connection_input.cc step 1).";
constexpr const char* kTimeWaitRst =
    "RFC 9293 step 2: CLOSED. RFC 1337 (informational) would ignore it against TIME-WAIT "
    "assassination; the code follows RFC 9293, as Linux does by default (tcp_rfc1337 = 0).";
constexpr const char* kTimeWaitSyn =
    "RFC 9293 step 4 lets TIME-WAIT accept a new SYN with a newer timestamp (RFC 6191): that is "
    "the demux's TIME-WAIT table; the connection itself sends the challenge ACK.";
constexpr const char* kNoTimestampAccepted =
    "DEVIATION: RFC 7323 §3.2 says a non-RST segment without TSopt, once negotiated, SHOULD be "
    "silently dropped; the code processes it and no comment says why. FreeBSD also accepts it "
    "by default (net.inet.tcp.tolerate_missing_ts = 1: deployed stacks omit TSopt).";
constexpr const char* kRfc5961AckCheck =
    "Optional, not implemented: RFC 5961 §5.2 (RFC 9293 MAY-12) would drop a segment whose "
    "SEG.ACK < SND.UNA - MAX.SND.WND and send an ACK; connection.h lists RFC 5961 §5 as not "
    "here yet, so this is an old ACK, ignored, and the text is taken.";
constexpr const char* kTextIgnored = "Step 7: the peer's FIN is in; 'ignore the segment text'.";

constexpr TcpState kSynSent = TcpState::kSynSent;
constexpr TcpState kSynRcvd = TcpState::kSynReceived;
constexpr TcpState kEstab = TcpState::kEstablished;
constexpr TcpState kFinWait1 = TcpState::kFinWait1;
constexpr TcpState kFinWait2 = TcpState::kFinWait2;
constexpr TcpState kCloseWait = TcpState::kCloseWait;
constexpr TcpState kClosing = TcpState::kClosing;
constexpr TcpState kLastAck = TcpState::kLastAck;
constexpr TcpState kTimeWait = TcpState::kTimeWait;
using R = Reply;
using C = Count;

// clang-format off
const Row kRows[] = {
    // SYN-SENT, §3.10.7.3: first the ACK (unacceptable: RST unless RST),
    // then RST (only with an acceptable ACK), then SYN.
    {kSynSent, kSynAckAckingIss,    {kSynSent, R::kRst, C::kResetSent}},
    {kSynSent, kAckPastSndNxt,      {kSynSent, R::kRst, C::kResetSent}},
    {kSynSent, kRstAckUnacceptable, {kSynSent, R::kNothing, C::kBad}},
    {kSynSent, kRstAckAcceptable,   closes(TcpError::kRefused), kSynSentRefused},
    {kSynSent, kRstNoAck,           {kSynSent, R::kNothing}},
    {kSynSent, kSynAck,             {kEstab, R::kAck}},
    {kSynSent, kBareSyn,            {kSynRcvd, R::kSynAck}, kSynSentSynData},
    {kSynSent, kAckNoSynNoRst,      {kSynSent, R::kNothing}},

    // SYN-RECEIVED (passive: the server after accept_syn).
    {kSynRcvd, kRstAtRcvNxt,      closes(TcpError::kRefused), kSynRcvdRst},
    {kSynRcvd, kRstInWindow,      {kSynRcvd, R::kSynAck, C::kChallenge}, kSynRcvdRepliesSynAck},
    {kSynRcvd, kRstOutOfWindow,   {kSynRcvd, R::kNothing, C::kBad}},
    {kSynRcvd, kSynInWindow,      {kSynRcvd, R::kSynAck, C::kChallenge}, kSynRcvdSynInWindow},
    {kSynRcvd, kSynOutOfWindow,   {kSynRcvd, R::kSynAck, C::kChallenge}, kSynRcvdRepliesSynAck},
    {kSynRcvd, kSynRetransmitted, {kSynRcvd, R::kSynAck, C::kChallenge}, kSynRcvdSynAgain},
    {kSynRcvd, kSynAckOfOurSyn,   {kEstab, R::kNothing}, kSynRcvdSimultaneousOpen},
    {kSynRcvd, kAckNothingNew,    {kSynRcvd, R::kRst, C::kResetSent}},
    {kSynRcvd, kAckOfAllSent,     {kEstab, R::kNothing}},
    {kSynRcvd, kAckOfUnsent,      {kSynRcvd, R::kRst, C::kResetSent}},
    {kSynRcvd, kOldAckWithData,   {kSynRcvd, R::kRst, C::kResetSent}},
    {kSynRcvd, kDataOutOfWindow,  {kSynRcvd, R::kSynAck, C::kBad}, kSynRcvdRepliesSynAck},
    {kSynRcvd, kDataAckingAll,    {kEstab, R::kDelayedAck, C::kNone, 100}},
    {kSynRcvd, kFinAckingAll,     {kCloseWait, R::kAck, C::kNone, 1}},
    {kSynRcvd, kNoAckBit,         {kSynRcvd, R::kNothing}},
    {kSynRcvd, kPawsOld,          {kSynRcvd, R::kSynAck, C::kPaws}, kSynRcvdRepliesSynAck},

    // ESTABLISHED.
    {kEstab, kRstAtRcvNxt,       closes(TcpError::kReset)},
    {kEstab, kRstInWindow,       {kEstab, R::kAck, C::kChallenge}},
    {kEstab, kRstOutOfWindow,    {kEstab, R::kNothing, C::kBad}},
    {kEstab, kSynInWindow,       {kEstab, R::kAck, C::kChallenge}},
    {kEstab, kSynOutOfWindow,    {kEstab, R::kAck, C::kChallenge}},
    {kEstab, kAckNothingNew,     {kEstab, R::kNothing}},
    {kEstab, kAckOfUnsent,       {kEstab, R::kAck, C::kAckTooNew}},
    {kEstab, kOldAckWithData,    {kEstab, R::kDelayedAck, C::kNone, 10}},
    {kEstab, kAckBelowMaxSndWnd, {kEstab, R::kDelayedAck, C::kNone, 10}, kRfc5961AckCheck},
    {kEstab, kDataOutOfWindow,   {kEstab, R::kAck, C::kBad}},
    {kEstab, kDataInWindow,      {kEstab, R::kDelayedAck, C::kNone, 100}},
    {kEstab, kFinAtRcvNxt,       {kCloseWait, R::kAck, C::kNone, 1}},
    {kEstab, kNoAckBit,          {kEstab, R::kNothing}},
    {kEstab, kPawsOld,           {kEstab, R::kAck, C::kPaws}},
    {kEstab, kNoTimestamp,       {kEstab, R::kDelayedAck, C::kNone, 10}, kNoTimestampAccepted},

    // FIN-WAIT-1: our FIN sent, not yet acknowledged.
    {kFinWait1, kRstAtRcvNxt,     closes(TcpError::kReset)},
    {kFinWait1, kRstInWindow,     {kFinWait1, R::kAck, C::kChallenge}},
    {kFinWait1, kRstOutOfWindow,  {kFinWait1, R::kNothing, C::kBad}},
    {kFinWait1, kSynInWindow,     {kFinWait1, R::kAck, C::kChallenge}},
    {kFinWait1, kSynOutOfWindow,  {kFinWait1, R::kAck, C::kChallenge}},
    {kFinWait1, kAckNothingNew,   {kFinWait1, R::kNothing}},
    {kFinWait1, kAckOfAllSent,    {kFinWait2, R::kNothing}},
    {kFinWait1, kAckOfUnsent,     {kFinWait1, R::kAck, C::kAckTooNew}},
    {kFinWait1, kOldAckWithData,  {kFinWait1, R::kDelayedAck, C::kNone, 10}},
    {kFinWait1, kDataOutOfWindow, {kFinWait1, R::kAck, C::kBad}},
    {kFinWait1, kDataInWindow,    {kFinWait1, R::kDelayedAck, C::kNone, 100}},
    {kFinWait1, kFinAtRcvNxt,     {kClosing, R::kAck, C::kNone, 1}},
    {kFinWait1, kFinAckingAll,    {kTimeWait, R::kAck, C::kNone, 1, true}},
    {kFinWait1, kNoAckBit,        {kFinWait1, R::kNothing}},
    {kFinWait1, kPawsOld,         {kFinWait1, R::kAck, C::kPaws}},

    // FIN-WAIT-2.
    {kFinWait2, kRstAtRcvNxt,     closes(TcpError::kReset)},
    {kFinWait2, kRstInWindow,     {kFinWait2, R::kAck, C::kChallenge}},
    {kFinWait2, kRstOutOfWindow,  {kFinWait2, R::kNothing, C::kBad}},
    {kFinWait2, kSynInWindow,     {kFinWait2, R::kAck, C::kChallenge}},
    {kFinWait2, kSynOutOfWindow,  {kFinWait2, R::kAck, C::kChallenge}},
    {kFinWait2, kAckNothingNew,   {kFinWait2, R::kNothing}},
    {kFinWait2, kAckOfUnsent,     {kFinWait2, R::kAck, C::kAckTooNew}},
    {kFinWait2, kOldAckWithData,  {kFinWait2, R::kDelayedAck, C::kNone, 10}},
    {kFinWait2, kDataOutOfWindow, {kFinWait2, R::kAck, C::kBad}},
    {kFinWait2, kDataInWindow,    {kFinWait2, R::kDelayedAck, C::kNone, 100}},
    {kFinWait2, kFinAtRcvNxt,     {kTimeWait, R::kAck, C::kNone, 1, true}},
    {kFinWait2, kNoAckBit,        {kFinWait2, R::kNothing}},
    {kFinWait2, kPawsOld,         {kFinWait2, R::kAck, C::kPaws}},

    // CLOSE-WAIT: the peer's FIN received; RCV.NXT is past it.
    {kCloseWait, kRstAtRcvNxt,      closes(TcpError::kReset)},
    {kCloseWait, kRstInWindow,      {kCloseWait, R::kAck, C::kChallenge}},
    {kCloseWait, kRstOutOfWindow,   {kCloseWait, R::kNothing, C::kBad}},
    {kCloseWait, kSynInWindow,      {kCloseWait, R::kAck, C::kChallenge}},
    {kCloseWait, kSynOutOfWindow,   {kCloseWait, R::kAck, C::kChallenge}},
    {kCloseWait, kAckNothingNew,    {kCloseWait, R::kNothing}},
    {kCloseWait, kAckOfUnsent,      {kCloseWait, R::kAck, C::kAckTooNew}},
    {kCloseWait, kOldAckWithData,   {kCloseWait, R::kNothing}, kTextIgnored},
    {kCloseWait, kDataOutOfWindow,  {kCloseWait, R::kAck, C::kBad}},
    {kCloseWait, kDataInWindow,     {kCloseWait, R::kNothing}, kTextIgnored},
    {kCloseWait, kFinAtRcvNxt,      {kCloseWait, R::kNothing}, kSecondFin},
    {kCloseWait, kFinRetransmitted, {kCloseWait, R::kAck, C::kBad}},
    {kCloseWait, kNoAckBit,         {kCloseWait, R::kNothing}},
    {kCloseWait, kPawsOld,          {kCloseWait, R::kAck, C::kPaws}},

    // CLOSING: both FINs sent and received, ours not acknowledged.
    {kClosing, kRstAtRcvNxt,      closes(TcpError::kNone)},
    {kClosing, kRstInWindow,      {kClosing, R::kAck, C::kChallenge}},
    {kClosing, kRstOutOfWindow,   {kClosing, R::kNothing, C::kBad}},
    {kClosing, kSynInWindow,      {kClosing, R::kAck, C::kChallenge}},
    {kClosing, kSynOutOfWindow,   {kClosing, R::kAck, C::kChallenge}},
    {kClosing, kAckNothingNew,    {kClosing, R::kNothing}},
    {kClosing, kAckOfAllSent,     {kTimeWait, R::kNothing, C::kNone, 0, true}},
    {kClosing, kAckOfUnsent,      {kClosing, R::kAck, C::kAckTooNew}},
    {kClosing, kOldAckWithData,   {kClosing, R::kNothing}, kTextIgnored},
    {kClosing, kDataOutOfWindow,  {kClosing, R::kAck, C::kBad}},
    {kClosing, kDataInWindow,     {kClosing, R::kNothing}, kTextIgnored},
    {kClosing, kFinAtRcvNxt,      {kClosing, R::kNothing}, kSecondFin},
    {kClosing, kFinRetransmitted, {kClosing, R::kAck, C::kBad}},
    {kClosing, kNoAckBit,         {kClosing, R::kNothing}},
    {kClosing, kPawsOld,          {kClosing, R::kAck, C::kPaws}},

    // LAST-ACK: the peer's FIN received, ours sent and not acknowledged.
    {kLastAck, kRstAtRcvNxt,      closes(TcpError::kNone)},
    {kLastAck, kRstInWindow,      {kLastAck, R::kAck, C::kChallenge}},
    {kLastAck, kRstOutOfWindow,   {kLastAck, R::kNothing, C::kBad}},
    {kLastAck, kSynInWindow,      {kLastAck, R::kAck, C::kChallenge}},
    {kLastAck, kSynOutOfWindow,   {kLastAck, R::kAck, C::kChallenge}},
    {kLastAck, kAckNothingNew,    {kLastAck, R::kNothing}},
    {kLastAck, kAckOfAllSent,     closes(TcpError::kNone)},
    {kLastAck, kAckOfUnsent,      {kLastAck, R::kAck, C::kAckTooNew}},
    {kLastAck, kOldAckWithData,   {kLastAck, R::kNothing}, kTextIgnored},
    {kLastAck, kDataOutOfWindow,  {kLastAck, R::kAck, C::kBad}},
    {kLastAck, kDataInWindow,     {kLastAck, R::kNothing}, kTextIgnored},
    {kLastAck, kFinAtRcvNxt,      {kLastAck, R::kNothing}, kSecondFin},
    {kLastAck, kFinRetransmitted, {kLastAck, R::kAck, C::kBad}},
    {kLastAck, kNoAckBit,         {kLastAck, R::kNothing}},
    {kLastAck, kPawsOld,          {kLastAck, R::kAck, C::kPaws}},

    // TIME-WAIT.
    {kTimeWait, kRstAtRcvNxt,      closes(TcpError::kNone), kTimeWaitRst},
    {kTimeWait, kRstInWindow,      {kTimeWait, R::kAck, C::kChallenge}},
    {kTimeWait, kRstOutOfWindow,   {kTimeWait, R::kNothing, C::kBad}},
    {kTimeWait, kSynInWindow,      {kTimeWait, R::kAck, C::kChallenge}, kTimeWaitSyn},
    {kTimeWait, kSynOutOfWindow,   {kTimeWait, R::kAck, C::kChallenge}, kTimeWaitSyn},
    {kTimeWait, kAckNothingNew,    {kTimeWait, R::kNothing}},
    {kTimeWait, kAckOfUnsent,      {kTimeWait, R::kAck, C::kAckTooNew}},
    {kTimeWait, kOldAckWithData,   {kTimeWait, R::kNothing}, kTextIgnored},
    {kTimeWait, kDataOutOfWindow,  {kTimeWait, R::kAck, C::kBad}},
    {kTimeWait, kDataInWindow,     {kTimeWait, R::kNothing}, kTextIgnored},
    {kTimeWait, kFinAtRcvNxt,      {kTimeWait, R::kNothing}, kTimeWaitSecondFin},
    {kTimeWait, kFinRetransmitted, {kTimeWait, R::kAck, C::kBad, 0, true},
     kTimeWaitRetransmittedFin},
    {kTimeWait, kNoAckBit,         {kTimeWait, R::kNothing}},
    {kTimeWait, kPawsOld,          {kTimeWait, R::kAck, C::kPaws}},
};
// clang-format on

std::string row_name(const Row& r) {
  std::string n = to_string(r.state);
  std::erase(n, '-');
  return n + "_" + r.kind.id;
}

void PrintTo(const Row& r, std::ostream* os) {
  *os << to_string(r.state) << ": " << r.kind.what;
}

uint64_t counter(const ConnectionCounters& k, Count c) {
  switch (c) {
    case Count::kNone:
      return 0;
    case Count::kBad:
      return k.bad_segments;
    case Count::kChallenge:
      return k.challenge_acks;
    case Count::kPaws:
      return k.paws_drops;
    case Count::kAckTooNew:
      return k.acks_too_new;
    case Count::kResetSent:
      return k.resets_sent;
  }
  return 0;
}

// The segment of `kind` for connection `c` (on side `s`), from its peer.
TcpHeader segment(Pair& p, Side s, const Connection& c, const Kind& kind) {
  const SeqNum nxt = c.rcv_nxt();
  SeqNum seq;
  switch (kind.seq) {
    case Seq::kRcvNxt:
      seq = nxt;
      break;
    case Seq::kRcvNxtPlus1:
      seq = nxt + 1;
      break;
    case Seq::kBeyond:
      seq = nxt + (1u << 30);
      break;
    case Seq::kFinRetx:
      seq = nxt - 1;
      break;
    case Seq::kIrs:
      seq = c.irs();
      break;
    case Seq::kPeerIss:
      seq = SeqNum{kPeerIss};
      break;
  }
  SeqNum ack{0};
  switch (kind.ack) {
    case Ack::kNone:
      break;
    case Ack::kSndUna:
      ack = c.snd_una();
      break;
    case Ack::kSndUnaMinus1:
      ack = c.snd_una() - 1;
      break;
    case Ack::kTooOld:
      ack = c.snd_una() - (1u << 30);
      break;
    case Ack::kSndMax:
      ack = c.snd_max();
      break;
    case Ack::kSndMaxPlus1:
      ack = c.snd_max() + 1;
      break;
  }
  TcpHeader h = p.header_to(s, seq, ack, kind.flags, kWindow);
  if (kind.flags & kTcpSyn) {
    h.options.mss = 1460;
    h.options.window_scale = 7;
    h.options.sack_permitted = true;
  }
  const uint32_t tsval = c.ts_ok() ? c.ts_recent() : kPeerTsval;
  const uint32_t tsecr = (kind.flags & kTcpAck) ? kOurTsval : 0;
  switch (kind.ts) {
    case Ts::kCurrent:
      h.options.timestamps = {{tsval, tsecr}};
      break;
    case Ts::kOlder:
      h.options.timestamps = {{tsval - 1, tsecr}};
      break;
    case Ts::kNone:
      break;
  }
  return h;
}

class ConnectionStateTable : public ::testing::TestWithParam<Row> {};

TEST_P(ConnectionStateTable, Row) {
  const Row& row = GetParam();
  const Expect& e = row.expect;
  SCOPED_TRACE(std::string(to_string(row.state)) + ": " + row.kind.what +
               (*row.note ? std::string("\n  note: ") + row.note : std::string()));
  Pair p;
  const Side s = reach(p, row.state);
  Connection& c = p.conn(s);
  ASSERT_EQ(c.state(), row.state);
  // Later than every timer reach() armed, so a restarted timer shows.
  p.now += Duration::millis(10);
  const SeqNum rcv_nxt = c.rcv_nxt();
  const Instant deadline = c.next_deadline();
  const ConnectionCounters before = c.counters();
  const size_t sent = p.sent(s).size();

  const TcpHeader h = segment(p, s, c, row.kind);
  p.inject(s, h, pattern(row.kind.len, 1));

  EXPECT_EQ(c.state(), e.state);
  EXPECT_STREQ(to_string(c.error()), to_string(e.error));
  if (e.count != Count::kNone) {
    EXPECT_EQ(counter(c.counters(), e.count), counter(before, e.count) + 1);
  }

  // What was sent in reply.
  const size_t n = p.sent(s).size() - sent;
  switch (e.reply) {
    case Reply::kNothing:
      EXPECT_EQ(n, 0u);
      EXPECT_NE(c.next_deadline().ns(), (p.now + c.config().delayed_ack).ns()) << "an ACK is owed";
      break;
    case Reply::kDelayedAck:
      EXPECT_EQ(n, 0u);
      EXPECT_EQ(c.next_deadline().ns(), (p.now + c.config().delayed_ack).ns());
      break;
    case Reply::kAck:
    case Reply::kSynAck:
    case Reply::kRst: {
      ASSERT_EQ(n, 1u);
      const WireSegment& r = p.sent(s).back();
      EXPECT_EQ(r.payload_len(), 0u);
      if (e.reply == Reply::kRst) {
        EXPECT_EQ(r.h.flags, kTcpRst);
        EXPECT_EQ(r.h.seq.v, h.ack.v);  // <SEQ=SEG.ACK>
      } else if (e.reply == Reply::kSynAck) {
        EXPECT_EQ(r.h.flags, kTcpSyn | kTcpAck);
        EXPECT_EQ(r.h.seq.v, c.iss().v);
        EXPECT_EQ(r.h.ack.v, c.rcv_nxt().v);
      } else {
        EXPECT_EQ(r.h.flags, kTcpAck);
        EXPECT_EQ(r.h.seq.v, c.snd_max().v);
        EXPECT_EQ(c.snd_nxt().v, c.snd_max().v);
        EXPECT_EQ(r.h.ack.v, c.rcv_nxt().v);
      }
      break;
    }
  }

  // RCV.NXT: moved over what was taken, no further.
  if (e.state != TcpState::kClosed) {
    if (is_synchronized(row.state)) {
      EXPECT_EQ(c.rcv_nxt().v, (rcv_nxt + e.advance).v);
    } else if (is_synchronized(e.state)) {
      EXPECT_EQ(c.rcv_nxt().v, kPeerIss + 1 + e.advance);
    }
  }

  // Timers: none once closed; 2 MSL (re)started, or left alone in TIME-WAIT.
  if (e.state == TcpState::kClosed) {
    EXPECT_EQ(c.next_deadline().ns(), Instant::never().ns());
  }
  if (e.tw_timer) {
    EXPECT_EQ(c.next_deadline().ns(), (p.now + c.config().msl * 2).ns());
  } else if (row.state == TcpState::kTimeWait && e.state == TcpState::kTimeWait) {
    EXPECT_EQ(c.next_deadline().ns(), deadline.ns());
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc9293, ConnectionStateTable, ::testing::ValuesIn(kRows),
                         [](const auto& info) { return row_name(info.param); });

// The table itself: one row per (state, kind), every state a connection can
// be in, and in each the kinds of segment every state must answer.
TEST(ConnectionStateTableShape, EveryStateAndKindOnce) {
  std::set<std::string> names;
  for (const Row& r : kRows) {
    EXPECT_TRUE(names.insert(row_name(r)).second) << row_name(r) << " twice";
    EXPECT_NE(r.state, TcpState::kClosed);
    EXPECT_NE(r.state, TcpState::kListen);
    EXPECT_EQ(r.kind.ack == Ack::kNone, (r.kind.flags & kTcpAck) == 0) << row_name(r);
  }
  auto has = [&](TcpState s, std::vector<std::string> ids) {
    return std::any_of(std::begin(kRows), std::end(kRows), [&](const Row& r) {
      return r.state == s && std::find(ids.begin(), ids.end(), r.kind.id) != ids.end();
    });
  };
  const std::vector<std::vector<std::string>> synchronized_kinds = {
      {"RstAtRcvNxt"},
      {"RstInWindow"},
      {"RstOutOfWindow"},
      {"SynInWindow"},
      {"SynOutOfWindow"},
      {"AckNothingNew"},
      {"AckOfUnsent"},
      {"OldAckWithData"},
      {"DataOutOfWindow"},
      {"DataInWindow", "DataAckingAll"},
      {"FinAtRcvNxt", "FinAckingAll"},
      {"NoAckBit"},
      {"PawsOldTimestamp"},
  };
  for (TcpState s :
       {kSynRcvd, kEstab, kFinWait1, kFinWait2, kCloseWait, kClosing, kLastAck, kTimeWait}) {
    for (const auto& ids : synchronized_kinds)
      EXPECT_TRUE(has(s, ids)) << to_string(s) << " has no row for " << ids[0];
  }
  // FIN-WAIT-1, CLOSING and LAST-ACK wait for the ACK of our FIN.
  for (TcpState s : {kFinWait1, kClosing, kLastAck})
    EXPECT_TRUE(has(s, {"AckOfAllSent"})) << to_string(s);
  for (TcpState s : {kCloseWait, kClosing, kLastAck, kTimeWait})
    EXPECT_TRUE(has(s, {"FinRetransmitted"})) << to_string(s);
  for (const char* id : {"SynAckAckingIss", "AckPastSndNxt", "RstAckUnacceptable",
                         "RstAckAcceptable", "RstNoAck", "SynAck", "BareSyn", "AckNoSynNoRst"})
    EXPECT_TRUE(has(kSynSent, {id})) << "SYN-SENT has no row for " << id;
}

}  // namespace
}  // namespace sn
