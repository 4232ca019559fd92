"""Interop: with the engine's fault injector at 2% loss and 2% reordering in
each direction, 16 MiB through tcp-echo from Linux still come back
byte-exact, and the injector's counters show the faults really happened."""
import random
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

with lab.Lab(binary, services=["tcp-echo:7"], tag="tl", capture=False,
             iface_opts=",loss=0.02,reorder=0.02,seed=3") as L:
    data = random.Random(2).randbytes(16 << 20)
    t0 = time.time()
    got = lab.tcp_echo((L.engine_ip, 7), data, timeout=240)
    c.check(got == data,
            f"16 MiB echoed byte-exact under 2% loss + 2% reorder each way ({len(got)} bytes, "
            f"{time.time() - t0:.1f} s)")
    st = L.stats()["shards"][0]
    f = st["faults"][0]
    c.check(f["dropped"] > 100 and f["reordered"] > 100, f"faults injected: {f}")
    code, _ = L.stop_engine()
    c.check(code == 0, "clean exit")

c.finish()
