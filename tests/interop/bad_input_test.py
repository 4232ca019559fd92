"""Interop: a burst of malformed frames written onto the TAP from Linux
(truncated headers, lying lengths, bad checksums, bad options, fragment
floods, ARP garbage) is counted under its drop reasons in `shardnet stats`,
and the engine keeps answering pings and UDP afterwards."""
import random
import time

import frames as F
import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()
N = 25  # frames of each kind

with lab.Lab(binary, services=["udp-echo:7"], tag="bi") as L:
    got, _ = L.ping(56, count=1)  # resolve ARP both ways first
    c.check(got == 1, "ping before the burst")
    inj = F.Injector(L.tap)
    me, eng, eip, lip = inj.src, L.engine_mac, L.engine_ip, L.linux_ip
    before = L.counters()

    def ip_frame(payload_fn, **kw):
        return F.eth(eng, me, 0x0800, payload_fn(**kw))

    good_udp = F.udp(lip, eip, 5000, 7, b"x" * 32)
    cases = {
        # drop counter -> a frame that must land there
        "drop_ip_truncated": F.eth(eng, me, 0x0800, b"\x45\x00\x00"),
        "drop_ip_bad_version": F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, good_udp, version=6)),
        "drop_ip_bad_header_length": F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, good_udp, ihl=3)),
        "drop_ip_bad_total_length": F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, good_udp, total=900)),
        "drop_ip_bad_checksum": F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, good_udp, bad_checksum=True)),
        # An option whose length runs past the header.
        "drop_ip_bad_option": F.eth(eng, me, 0x0800,
                                    F.ipv4(lip, eip, 17, good_udp, options=b"\x07\x0f\x04\x00")),
        "drop_udp_bad_checksum": F.eth(eng, me, 0x0800,
                                       F.ipv4(lip, eip, 17, F.udp(lip, eip, 5000, 7, b"y" * 40, bad_checksum=True))),
        "drop_udp_bad_length": F.eth(eng, me, 0x0800,
                                     F.ipv4(lip, eip, 17, F.udp(lip, eip, 5000, 7, b"z" * 40, length=400))),
        "drop_udp_truncated": F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, b"\x13\x88\x00")),
        "drop_icmp_bad_checksum": F.eth(eng, me, 0x0800,
                                        F.ipv4(lip, eip, 1, F.icmp_echo(9, 1, b"p" * 20, bad_checksum=True))),
        "drop_icmp_truncated": F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 1, b"\x08\x00\x00")),
        "drop_ip_bad_source": F.eth(eng, me, 0x0800, F.ipv4("255.255.255.255", eip, 17, good_udp)),
        "drop_ip_not_for_us": F.eth(eng, me, 0x0800, F.ipv4(lip, "10.214.0.77", 17, good_udp)),
        "drop_arp_unsupported": F.eth(eng, me, 0x0806, F.arp(1, me, lip, "00:00:00:00:00:00", eip, htype=6)),
        "drop_arp_malformed": F.eth(eng, me, 0x0806, b"\x00\x01\x08\x00\x06\x04\x00"),
        "drop_arp_bad_sender": F.eth(eng, me, 0x0806,
                                     F.arp(1, "01:00:5e:00:00:01", lip, "00:00:00:00:00:00", eip)),
        "drop_eth_unknown_type": F.eth(eng, me, 0x88B5, b"\x00" * 46),
        # A middle fragment whose length is not a multiple of 8.
        "drop_frag_bad_length": F.eth(eng, me, 0x0800,
                                      F.ipv4(lip, eip, 17, b"q" * 13, ident=777, flags_frag=0x2000 | 2)),
    }
    for _ in range(N):
        for frame in cases.values():
            inj.send(frame)

    # Overlapping fragments: two first pieces of one datagram that overlap.
    for i in range(N):
        ident = 2000 + i
        inj.send(F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, b"a" * 64, ident=ident, flags_frag=0x2000)))
        inj.send(F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, b"b" * 64, ident=ident, flags_frag=0x2000 | 4)))

    # A fragment flood: first fragments of 500 datagrams that never complete
    # (more than the reassembler holds at once), so the oldest are evicted.
    for i in range(500):
        inj.send(F.eth(eng, me, 0x0800, F.ipv4(lip, eip, 17, b"f" * 1024, ident=10000 + i, flags_frag=0x2000)))

    time.sleep(0.5)
    after = L.counters()
    for name in cases:
        d = after[name] - before[name]
        c.check(d == N, f"{name}: {d} of {N} counted")
    d = after["drop_frag_overlap"] - before["drop_frag_overlap"]
    c.check(d == N, f"drop_frag_overlap: {d} of {N}")
    d = after["drop_frag_evicted"] - before["drop_frag_evicted"]
    held = 64 * len(L.stats()["shards"])  # each shard's reassembler holds 64 datagrams
    c.check(d >= 500 - held - N, f"drop_frag_evicted: {d} (fragment flood bounded)")
    c.check(after["udp_rx_datagrams"] == before["udp_rx_datagrams"],
            "no malformed datagram reached the echo service")

    # The engine still answers, and still reassembles.
    got, line = L.ping(56)
    c.check(got == 5, f"ping -s 56 after the burst: {line}")
    got, line = L.ping(4000)
    c.check(got == 5, f"ping -s 4000 after the burst: {line}")
    s = L.udp_socket()
    s.connect((eip, 7))
    rng = random.Random(5)
    exact = 0
    for _ in range(20):
        data = rng.randbytes(rng.randint(1, 8000))
        s.send(data)
        try:
            exact += s.recv(65536) == data
        except TimeoutError:
            pass
    c.check(exact == 20, f"UDP echo after the burst: {exact} of 20 byte-exact")

    code, _ = L.stop_engine()
    c.check(code == 0, "clean exit after abuse")
    bad = L.malformed_in_capture()
    c.check(not bad, "tshark: nothing malformed from the engine" + "".join("\n     " + b for b in bad[:10]))

c.finish()
