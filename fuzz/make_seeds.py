"""Writes seed inputs for the fuzz targets: records of frames a shard at
10.0.0.2 (MAC 02:00:00:00:00:02) would see, good and bad, so the fuzzer
starts deep in the receive path. Usage: make_seeds.py DIR"""
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


def main(out):
    os.makedirs(out, exist_ok=True)
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
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main(sys.argv[1])
