"""Interop: with the engine's fault injector at 2% loss and 2% reordering in
each direction, 16 MiB through tcp-echo from Linux still come back
byte-exact, curl downloads a 16 MiB file from the http service with the
right SHA-256, and the injector's counters show the faults really happened."""
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

www = tempfile.mkdtemp(prefix="sn-tl-")
blob = random.Random(4).randbytes(16 << 20)
with open(os.path.join(www, "blob.bin"), "wb") as f:
    f.write(blob)

with lab.Lab(binary, services=["tcp-echo:7", f"http:80:{www}"], tag="tl", capture=False,
             iface_opts=",loss=0.02,reorder=0.02,seed=3") as L:
    data = random.Random(2).randbytes(16 << 20)
    t0 = time.time()
    got = lab.tcp_echo((L.engine_ip, 7), data, timeout=240)
    c.check(got == data,
            f"16 MiB echoed byte-exact under 2% loss + 2% reorder each way ({len(got)} bytes, "
            f"{time.time() - t0:.1f} s)")
    t0 = time.time()
    r = subprocess.run(["curl", "-s", "--max-time", "240", f"http://{L.engine_ip}/blob.bin"],
                       capture_output=True)
    got_sum = hashlib.sha256(r.stdout).hexdigest()
    c.check(r.returncode == 0 and got_sum == hashlib.sha256(blob).hexdigest(),
            f"16 MiB curl download under the same faults: SHA-256 "
            f"{'matches' if got_sum == hashlib.sha256(blob).hexdigest() else 'DIFFERS'} "
            f"({len(r.stdout)} bytes, {time.time() - t0:.1f} s)")
    f = L.faults()  # each shard's queue has its own injector
    c.check(f["dropped"] > 100 and f["reordered"] > 100, f"faults injected: {f}")
    code, _ = L.stop_engine()
    c.check(code == 0, "clean exit")

shutil.rmtree(www, ignore_errors=True)
c.finish()
