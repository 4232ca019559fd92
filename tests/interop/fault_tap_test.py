"""Interop: the seeded fault injector wraps a real TAP port
(`--iface tap:NAME,loss=...,corrupt=...,seed=S`): Linux sees the loss, the
engine counts what it injected, corrupted frames die on checksums, and what
does get through is byte-exact."""
import random

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

with lab.Lab(binary, services=["udp-echo:7"], tag="ft", capture=False,
             iface_opts=",loss=0.1,corrupt=0.05,dup=0.05,seed=7") as L:
    # -w: a corrupted reply can garble the send time ping keeps in the payload,
    # and ping then lingers for twice that bogus round trip; bound it.
    r = lab.sh(f"ping -n -c 100 -i 0.01 -W 1 -w 6 -s 200 {L.engine_ip}", check=False)
    line = next((l for l in r.stdout.splitlines() if "received" in l), r.stdout)
    sent = int(line.split()[0]) if "received" in line else 0
    received = int(line.split(",")[1].split()[0]) if "received" in line else 0
    # Each ping crosses the injector twice: ~ (0.9*0.95)^2 = 73% come back.
    c.check(sent > 0 and 0.4 <= received / sent <= 0.95, f"lossy ping: {received} of {sent} ({line})")

    s = L.udp_socket(timeout=0.3)
    s.connect((L.engine_ip, 7))
    rng = random.Random(11)
    # Duplicates and late replies arrive out of turn, so a reply is matched
    # against everything sent: it must be one of those datagrams, intact.
    sent = set()
    got = set()
    wrong = 0
    for i in range(100):
        data = i.to_bytes(2, "big") + rng.randbytes(rng.randint(1, 1400))
        sent.add(data)
        s.send(data)
        try:
            while True:
                back = s.recv(65536)
                if back in sent:
                    got.add(back)
                else:
                    wrong += 1
                if back == data:
                    break
        except TimeoutError:
            pass
    exact = len(got)
    c.check(wrong == 0, f"lossy UDP echo: nothing wrong came back ({exact} exact, {wrong} wrong)")
    c.check(30 <= exact < len(sent), f"lossy UDP echo: some lost, most through ({exact} of {len(sent)})")

    f = L.faults()  # each shard's queue has its own injector
    c.check(f["dropped"] > 0 and f["corrupted"] > 0 and f["duplicated"] > 0,
            f"fault counters moved: {f}")
    k = L.counters()
    caught = sum(v for n, v in k.items() if n.startswith("drop_") and "checksum" in n)
    c.check(caught > 0, f"corrupted frames dropped on checksums ({caught})")
    code, _ = L.stop_engine()
    c.check(code == 0, "clean exit")

c.finish()
