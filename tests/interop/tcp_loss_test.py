"""Interop: with the engine's fault injector at 2% loss and 2% reordering in
each direction, 16 MiB through tcp-echo from Linux still come back
byte-exact, and the injector's counters show the faults really happened."""
import random
import socket
import threading
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

with lab.Lab(binary, services=["tcp-echo:7"], tag="tl", capture=False,
             iface_opts=",loss=0.02,reorder=0.02,seed=3") as L:
    data = random.Random(2).randbytes(16 << 20)
    s = socket.create_connection((L.engine_ip, 7), timeout=30)
    got = bytearray()

    def reader():
        try:
            while len(got) < len(data):
                b = s.recv(1 << 16)
                if not b:
                    break
                got.extend(b)
        except OSError:
            pass

    t = threading.Thread(target=reader)
    t.start()
    t0 = time.time()
    s.sendall(data)
    t.join(240)
    s.close()
    c.check(bytes(got) == data,
            f"16 MiB echoed byte-exact under 2% loss + 2% reorder each way ({len(got)} bytes, "
            f"{time.time() - t0:.1f} s)")
    st = L.stats()["shards"][0]
    f = st["faults"][0]
    c.check(f["dropped"] > 100 and f["reordered"] > 100, f"faults injected: {f}")
    code, _ = L.stop_engine()
    c.check(code == 0, "clean exit")

c.finish()
