"""Writes seed inputs for the fuzz targets, so the fuzzer starts deep in the
code. For shard_rx and wire: records of frames a shard at 10.0.0.2 (MAC
02:00:00:00:00:02) would see, good and bad. For tcp_conn: a state to start in
and operations on the connection (the format is tcp_conn_fuzz.cc's).
Usage: make_seeds.py DIR [shard_rx|tcp_conn]"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "interop"))
import frames as F  # noqa: E402

US, PEER = "02:00:00:00:00:02", "02:00:00:00:00:01"
ME, THEM = "10.0.0.2", "10.0.0.1"


def rec(frame, delay=0):
    return struct.pack("!BH", delay, len(frame)) + frame


def ip(payload, **kw):
    return F.eth(US, PEER, 0x0800, F.ipv4(THEM, ME, kw.pop("proto", 17), payload, **kw))


def fragments(payload, proto, ident, size=1480, order=None):
    pieces = []
    for off in range(0, len(payload), size):
        chunk = payload[off:off + size]
        mf = 0x2000 if off + size < len(payload) else 0
        pieces.append(ip(chunk, proto=proto, ident=ident, flags_frag=mf | (off // 8)))
    if order:
        pieces = [pieces[i] for i in order]
    return b"".join(rec(p) for p in pieces)


# ---- tcp_conn_fuzz -----------------------------------------------------------

(SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK,
 TIME_WAIT) = range(9)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SACK, TS, WS7, C_SERVER, SMALL = 0x01, 0x02, 0x04, 0x08, 0x80
ALL_OPTS = SACK | TS | WS7
REL, REL512, RAW, AT = range(4)  # seq relative to RCV.NXT (ack: SND.UNA), *512, raw, exact
MAX = 1  # for the ack: relative to SND.MAX


def prelude(state, opts=ALL_OPTS, c_writes=0, p_writes=0, peer=0):
    return bytes([state, opts, (p_writes << 4) | c_writes, peer])


def built(ts=None, sacks=(), mss=None, ws=None, sack_ok=False):
    """Options from bits: ts = (TSval - ts_recent, now - TSecr in ms)."""
    bits = (1 if ts else 0) | (len(sacks) << 1) | (8 if mss is not None else 0) \
        | (16 if ws is not None else 0) | (32 if sack_ok else 0)
    out = bytes([bits])
    if ts:
        out += struct.pack("!bB", *ts)
    for left, length in sacks:
        out += struct.pack("!hH", left, length)
    if mss is not None:
        out += struct.pack("!H", mss)
    if ws is not None:
        out += bytes([ws])
    return out


def seg(flags, seq_mode=AT, seq=0, ack_mode=AT, ack=0, window=0xffff, length=0, chunk=0,
        opts=None, raw=None):
    op = 1 if raw is not None else 0
    out = bytes([op, flags, seq_mode | (ack_mode << 2) | (chunk << 4)])
    for mode, v in ((seq_mode, seq), (ack_mode, ack)):
        if mode in (REL, REL512):
            out += struct.pack("!h", v)
        elif mode == RAW:
            out += struct.pack("!I", v)
    out += struct.pack("!HH", window, length)
    if raw is not None:
        return out + bytes([len(raw)]) + raw
    return out + (opts if opts is not None else built(ts=(0, 0)))


def advance(ms):
    return b"\x02" + struct.pack("!H", ms)


NEXT_DEADLINE, SHUTDOWN, ABORT, P_READ = b"\x03", b"\x06", b"\x07", b"\x0a"
DELIVER_TO_C, DROP_TO_C, DELIVER_TO_P, DROP_TO_P, DELIVER_ALL, TWICE_TO_C = (
    b"\x08" + bytes([i]) for i in range(6))
P_SHUTDOWN, P_ABORT = b"\x0b\x00", b"\x0b\x01"


def write(n):
    return b"\x04" + struct.pack("!H", n)


def read(n):
    return b"\x05" + struct.pack("!H", n)


def p_write(n):
    return b"\x09" + struct.pack("!H", n)


def tcp_conn_seeds():
    data = seg(ACK | PSH, length=1448)
    ack_all = seg(ACK, ack_mode=MAX, ack=0)
    return {
        "syn_sent_synack": prelude(SYN_SENT, c_writes=2)
        + seg(SYN | ACK, seq_mode=RAW, seq=7000,
              opts=built(ts=(0, 0), mss=1460, ws=7, sack_ok=True))
        + data + read(4096) + advance(100),
        "syn_sent_rst": prelude(SYN_SENT) + seg(RST | ACK),
        "syn_sent_simultaneous": prelude(SYN_SENT, opts=SACK)
        + seg(SYN, seq_mode=RAW, seq=9000, opts=built(mss=536)) + seg(ACK) + NEXT_DEADLINE,
        "syn_received_ack": prelude(SYN_RECEIVED) + seg(ACK) + data + read(2000) + write(3000)
        + DELIVER_ALL,
        "syn_received_timeout": prelude(SYN_RECEIVED) + NEXT_DEADLINE * 8 + advance(0xffff),
        "established_in_order": prelude(ESTABLISHED, p_writes=4) + data + data + read(8192)
        + advance(50) + write(3000) + DELIVER_ALL + P_READ,
        "established_out_of_order": prelude(ESTABLISHED)
        + seg(ACK, seq_mode=REL, seq=1448, length=1448)
        + seg(ACK, seq_mode=REL, seq=4344, length=1448, chunk=2) + data + read(8192),
        "established_dup_acks": prelude(ESTABLISHED, c_writes=15)
        + seg(ACK, ack_mode=REL, window=256) * 3
        + seg(ACK, ack_mode=REL, ack=1448, window=256, opts=built(ts=(0, 0), sacks=[(2896, 1448)]))
        + advance(1000) + DELIVER_ALL,
        "established_rto": prelude(ESTABLISHED, c_writes=8) + DROP_TO_P * 3 + NEXT_DEADLINE
        + NEXT_DEADLINE + DELIVER_ALL,
        "established_zero_window": prelude(ESTABLISHED, opts=SACK | WS7)
        + seg(ACK, window=0, opts=built()) + write(5000) + advance(2000) * 3
        + seg(ACK, window=256, opts=built()),
        "established_rst": prelude(ESTABLISHED) + seg(RST),
        "established_rst_challenge": prelude(ESTABLISHED) + seg(RST, seq_mode=REL, seq=100),
        "established_syn": prelude(ESTABLISHED) + seg(SYN, seq_mode=REL, seq=-5),
        "established_paws": prelude(ESTABLISHED) + seg(ACK, length=100, opts=built(ts=(-100, 0))),
        "established_raw_options": prelude(ESTABLISHED, peer=1)
        + seg(ACK, length=10, raw=b"\x01\x01\x08\x0a\x00\x0f\x42\x40\x00\x00\x00\x00")
        + seg(ACK, raw=b"\x05\x0a\x00\x00\x00\x01\x00\x00\x00\x02"),
        "established_big_segments": prelude(ESTABLISHED, opts=ALL_OPTS | SMALL)
        + seg(ACK, length=4096, chunk=2) + read(1000) + seg(ACK, length=3000, chunk=1),
        "established_server_wraps": prelude(ESTABLISHED, opts=ALL_OPTS | C_SERVER, c_writes=4,
                                            p_writes=4, peer=1)
        + read(4096) + ack_all + data + DELIVER_ALL + P_READ,
        "fin_wait_1": prelude(FIN_WAIT_1, c_writes=3) + ack_all + seg(FIN | ACK) + advance(60000),
        "fin_wait_1_fin_first": prelude(FIN_WAIT_1) + seg(FIN | ACK, ack_mode=REL) + ack_all,
        "fin_wait_2": prelude(FIN_WAIT_2, p_writes=2) + data + seg(FIN | ACK) + read(8192)
        + TWICE_TO_C + advance(0x8400),
        "close_wait": prelude(CLOSE_WAIT, c_writes=4) + ack_all + write(2000) + SHUTDOWN
        + DELIVER_ALL,
        "closing": prelude(CLOSING, c_writes=2) + ack_all + seg(FIN | ACK, seq_mode=REL, seq=-1),
        "last_ack": prelude(LAST_ACK, c_writes=2) + ack_all + NEXT_DEADLINE,
        "last_ack_rto": prelude(LAST_ACK) + NEXT_DEADLINE * 16,
        "time_wait": prelude(TIME_WAIT) + seg(FIN | ACK, seq_mode=REL, seq=-1) + advance(0x8100)
        + seg(ACK) + ABORT,
    }


def shard_rx_seeds():
    big_udp = F.udp(THEM, ME, 5000, 7, bytes(range(256)) * 16)
    big_ping = F.icmp_echo(1, 1, b"\xab" * 4000)
    seeds = {
        "arp_request": rec(F.eth("ff:ff:ff:ff:ff:ff", PEER, 0x0806,
                                 F.arp(1, PEER, THEM, "00:00:00:00:00:00", ME))),
        "ping": rec(ip(F.icmp_echo(1, 1, b"hello" * 10), proto=1)),
        "udp_echo": rec(ip(F.udp(THEM, ME, 5000, 7, b"data" * 20))),
        "udp_closed": rec(ip(F.udp(THEM, ME, 5000, 9, b"x"))),
        "frag_udp": fragments(big_udp, 17, 42),
        "frag_udp_reversed": fragments(big_udp, 17, 43, order=[2, 1, 0]),
        "frag_ping": fragments(big_ping, 1, 44, size=1000),
        "frag_overlap": fragments(big_udp, 17, 45, size=800) + fragments(big_udp, 17, 45, size=1200),
        "bad_checksum": rec(ip(F.udp(THEM, ME, 5000, 7, b"x" * 9), bad_checksum=True)),
        "options": rec(ip(F.udp(THEM, ME, 5000, 7, b"o"), options=b"\x01\x01\x01\x00")),
    }
    return seeds


def main(out, target="shard_rx"):
    os.makedirs(out, exist_ok=True)
    seeds = tcp_conn_seeds() if target == "tcp_conn" else shard_rx_seeds()
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main(*sys.argv[1:])
