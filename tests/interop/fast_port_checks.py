"""The checks every port makes against Linux (shared by the AF_XDP and
AF_PACKET tests): ping and UDP echo, 16 MiB through tcp-echo byte-exact, 200
concurrent connections, a 64 MiB curl download with a matching SHA-256, a
clean exit, and tshark finding nothing malformed from the engine."""
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import threading

import lab


def run(device, tag, iface_opts="", extra_checks=None):
    lab.require_root()
    binary = lab.binary_from_argv()
    c = lab.Checks()
    root = tempfile.mkdtemp(prefix=f"sn-{tag}-")
    try:
        data = random.Random(64).randbytes(64 << 20)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(data)
        os.chmod(root, 0o755)
        services = ["tcp-echo:7", "udp-echo:7", f"http:80:{root}"]
        with lab.Lab(binary, services=services, tag=tag, device=device,
                     iface_opts=iface_opts) as L:
            got, line = L.ping(1000, count=5)
            c.check(got == 5, f"ping 1000 bytes: {line}")

            s = L.udp_socket()
            ok = 0
            for i in range(20):
                msg = random.Random(i).randbytes(1 + i * 70)
                s.sendto(msg, (L.engine_ip, 7))
                try:
                    ok += s.recvfrom(4096)[0] == msg
                except OSError:
                    pass
            c.check(ok >= 19, f"UDP echo: {ok} of 20 datagrams back byte-exact")

            addr = (L.engine_ip, 7)
            blob = random.Random(16).randbytes(16 << 20)
            back = lab.tcp_echo(addr, blob)
            c.check(back == blob, f"16 MiB through tcp-echo byte-exact ({len(back)} bytes back)")

            results = [None] * 200

            def one(i):
                d = random.Random(1000 + i).randbytes(64 << 10)
                try:
                    results[i] = lab.tcp_echo(addr, d) == d
                except OSError:
                    results[i] = False
            threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            n = sum(1 for r in results if r)
            c.check(n == 200, f"200 concurrent connections echo 64 KiB each: {n} byte-exact")

            r = subprocess.run(f"curl -s --max-time 120 http://{L.engine_ip}/big.bin", shell=True,
                               capture_output=True, timeout=130)
            want = hashlib.sha256(data).hexdigest()
            have = hashlib.sha256(r.stdout).hexdigest()
            c.check(have == want, f"64 MiB download: SHA-256 {'matches' if have == want else 'DIFFERS'}"
                    f" ({len(r.stdout)} bytes)")

            k = L.counters()
            c.check(k.get("drop_tcp_bad_checksum", 0) == 0 and k.get("drop_udp_bad_checksum", 0) == 0,
                    "no TCP or UDP segment dropped for its checksum (partial checksums recognised)")
            if extra_checks:
                extra_checks(L, c)
            code, out = L.stop_engine()
            c.check(code == 0, "clean exit" + ("" if code == 0 else ": " + out[-500:]))
            bad = L.malformed_in_capture()
            c.check(not bad, "tshark: nothing malformed from the engine" +
                    "".join("\n     " + b for b in bad[:10]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    c.finish()
