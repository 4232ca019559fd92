"""Interop: Linux's TCP against the engine's over TAP. 16 MiB to tcp-echo
come back byte-exact; 200 concurrent connections each echo 64 KiB; the
SYN-ACK carries MSS, window scale, SACK-permitted and timestamps; a closed
port answers with a RST (ECONNREFUSED); discard takes a stream and closes;
the engine's data goes back as TCP super-segments (TSO through TAP); tshark
finds nothing malformed from the engine."""
import random
import socket
import struct
import threading
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()


with lab.Lab(binary, services=["tcp-echo:7", "discard:9"], tag="tcp") as L:
    addr = (L.engine_ip, 7)
    data = random.Random(16).randbytes(16 << 20)
    t0 = time.time()
    back = lab.tcp_echo(addr, data)
    dt = time.time() - t0
    c.check(back == data, f"16 MiB through tcp-echo byte-exact ({len(back)} bytes back, {dt:.2f} s)")

    # 200 concurrent connections, 64 KiB each.
    results = [None] * 200
    def one(i):
        d = random.Random(1000 + i).randbytes(64 << 10)
        try:
            results[i] = lab.tcp_echo(addr, d) == d
        except OSError as e:
            results[i] = False
    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ok = sum(1 for r in results if r)
    c.check(ok == 200, f"200 concurrent connections echo 64 KiB each: {ok} byte-exact")

    # discard: takes a stream, closes when we do.
    s = socket.create_connection((L.engine_ip, 9), timeout=10)
    s.sendall(b"x" * (1 << 20))
    s.shutdown(socket.SHUT_WR)
    c.check(s.recv(10) == b"", "discard: took 1 MiB and closed after our FIN")
    s.close()

    # A closed port answers with a RST.
    try:
        socket.create_connection((L.engine_ip, 4444), timeout=5)
        refused = False
    except ConnectionRefusedError:
        refused = True
    except OSError:
        refused = False
    c.check(refused, "connect to a closed port: ECONNREFUSED (RST)")

    time.sleep(1)
    k = L.counters()
    c.check(k["tcp_passive_opens"] >= 202 and k["tcp_tx_resets"] >= 1,
            f"counters: {k['tcp_passive_opens']} passive opens, {k['tcp_tx_resets']} resets")
    # The echoes went back as TCP super-segments, each one writev() for the
    # kernel to take whole (TSO through TAP), with partial checksums.
    ifaces = [i for s in L.stats()["shards"] for i in s["ifaces"]]
    tap = {n: sum(i[n] for i in ifaces) for n in ("tap_tx_tso_frames", "tap_tx_csum_partial")}
    c.check(k["ip_tx_tso"] > 0 and tap["tap_tx_tso_frames"] == k["ip_tx_tso"]
            and tap["tap_tx_csum_partial"] >= tap["tap_tx_tso_frames"]
            and k["ip_tx_gso_segments"] == 0,
            f"TSO through TAP: {k['ip_tx_tso']} super-segments, {tap['tap_tx_tso_frames']} "
            f"written whole, {tap['tap_tx_csum_partial']} partial checksums")
    # ... which the kernel completed: it found no bad checksum.
    errors = L.kernel_tcp_counters()["InCsumErrors"]
    c.check(errors == 0, f"Linux counted no TCP checksum errors: {errors}")
    code, _ = L.stop_engine()
    c.check(code == 0, "clean exit")

    # What Linux saw in the SYN-ACKs, and whether anything was malformed.
    r = lab.sh(f"tshark -r {L.pcap} -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 1 && eth.src == {L.engine_mac}'"
               " -T fields -e tcp.options.mss_val -e tcp.options.wscale.shift -e tcp.options.sack_perm"
               " -e tcp.options.timestamp.tsval", check=False)
    first = r.stdout.splitlines()[0].split("\t") if r.stdout.strip() else []
    c.check(len(first) == 4 and all(f for f in first),
            f"SYN-ACK carries MSS, window scale, SACK-permitted, timestamps: {first}")
    bad = L.malformed_in_capture()
    c.check(not bad, "tshark: nothing malformed from the engine" + "".join("\n     " + b for b in bad[:10]))

c.finish()
