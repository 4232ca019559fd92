"""Interop: the engine with two shards on a two-queue TAP. Linux fetches a
page over 1000 short HTTP connections, all succeed; 200 concurrent echo
connections come back byte-exact; fragmented pings and UDP echo work; the
stats show both shards served connections, each connection was accepted by
exactly one shard (none moved), and how many frames the dispatcher forwarded
from the queue the kernel chose to the shard that owns them. Idle, the two
shards together use under 2% of one core over 10 s."""
import os
import random
import time
import socket
import tempfile
import threading
import urllib.request

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

www = tempfile.mkdtemp(prefix="sn-ms-")
page = random.Random(5).randbytes(3000)
with open(os.path.join(www, "index.html"), "wb") as f:
    f.write(page)

with lab.Lab(binary, services=["tcp-echo:7", "udp-echo:7", f"http:80:{www}"], tag="ms",
             extra_args=["--shards", "2"]) as L:
    st = L.stats()
    c.check(len(st["shards"]) == 2, f"two shards ({len(st['shards'])})")

    # Idle: the shards sleep on their queues, rings and timers.
    def cpu_seconds():
        with open(f"/proc/{L.engine.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    time.sleep(1)
    t0, c0 = time.monotonic(), cpu_seconds()
    time.sleep(10)
    used = (cpu_seconds() - c0) / (time.monotonic() - t0)
    c.check(used < 0.02, f"idle engine with 2 shards: {100 * used:.2f}% of one core over 10 s")

    # 1000 short HTTP connections, 8 at a time.
    ok = [0] * 8
    def fetch(t):
        for i in range(125):
            try:
                with urllib.request.urlopen(f"http://{L.engine_ip}/index.html", timeout=10) as r:
                    ok[t] += r.read() == page
            except OSError as e:
                print("fetch failed:", e)
    threads = [threading.Thread(target=fetch, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    c.check(sum(ok) == 1000, f"1000 HTTP requests over 1000 connections: {sum(ok)} succeeded")

    # 200 concurrent echo connections.
    results = [False] * 200
    def one(i):
        d = random.Random(100 + i).randbytes(64 << 10)
        try:
            results[i] = lab.tcp_echo((L.engine_ip, 7), d) == d
        except OSError:
            results[i] = False
    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    c.check(all(results), f"200 concurrent echo connections byte-exact: {sum(results)}")

    got, line = L.ping(4000, count=5)
    c.check(got == 5, f"fragmented pings (4000 bytes): {line}")
    s = L.udp_socket()
    good = 0
    for i in range(50):
        d = random.Random(i).randbytes(1 + i * 150)
        s.sendto(d, (L.engine_ip, 7))
        try:
            good += s.recvfrom(65536)[0] == d
        except OSError:
            pass
    c.check(good == 50, f"UDP echo of 1..7351 bytes (fragmented past 1472): {good} of 50")

    per = L.shard_counters()
    accepted = [k["tcp_accepted"] for k in per]
    opened = [k["tcp_passive_opens"] for k in per]
    c.check(all(a > 0 for a in accepted), f"both shards served connections: accepted {accepted}")
    c.check(sum(accepted) == 1200, f"each connection accepted once, by one shard: {sum(accepted)}")
    c.check(accepted == opened, f"no connection moved: passive opens {opened} = accepted")
    fwd = sum(k["frames_forwarded"] for k in per)
    rcv = sum(k["frames_received"] for k in per)
    print(f"     frames forwarded between shards: {fwd} (received {rcv}); "
          f"ring_full {sum(k['ring_full'] for k in per)}; "
          f"datagrams forwarded {sum(k['datagrams_forwarded'] for k in per)}")
    c.check(fwd == rcv, "every frame handed to another shard arrived there")
    c.check(L.malformed_in_capture() == [], "tshark: nothing malformed from the engine")
    code, out = L.stop_engine()
    c.check(code == 0, f"engine exits cleanly ({code})")

c.finish()
