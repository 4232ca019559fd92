"""Interop: curl against the engine's http service over TAP. A 64 MiB random
file downloads with a matching SHA-256; keep-alive serves several requests on
one connection; 404 for a missing file, 405 for POST, and no way out of the
directory by `..` or by a symbolic link."""
import hashlib
import os
import random
import shutil
import subprocess
import tempfile

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

root = tempfile.mkdtemp(prefix="sn-http-")
outside = tempfile.mkdtemp(prefix="sn-secret-")
try:
    data = random.Random(64).randbytes(64 << 20)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>shardnet</h1>\n")
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write("secret\n")
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "link.txt"))
    os.chmod(root, 0o755)

    def curl(args, timeout=120):
        return subprocess.run(f"curl -s --max-time {timeout} {args}", shell=True,
                              capture_output=True, timeout=timeout + 10)

    with lab.Lab(binary, services=[f"http:80:{root}"], tag="ht") as L:
        u = f"http://{L.engine_ip}"
        r = curl(f"{u}/big.bin")
        want = hashlib.sha256(data).hexdigest()
        got = hashlib.sha256(r.stdout).hexdigest()
        c.check(got == want, f"64 MiB download: SHA-256 {'matches' if got == want else 'DIFFERS'} "
                f"({len(r.stdout)} bytes)")

        def code(args):
            return curl(f"-o /dev/null -w '%{{http_code}}' {args}", 20).stdout.decode()

        c.check(code(f"{u}/") == "200", "GET / serves index.html")
        c.check(code(f"{u}/missing") == "404", "a missing file: 404")
        c.check(code(f"-X POST {u}/index.html") == "405", "POST: 405")
        c.check(code(f"--path-as-is {u}/../../etc/passwd") == "404", "no escape by ..")
        c.check(code(f"{u}/link.txt") == "404", "no escape by a symbolic link")
        c.check(code(f"-I {u}/big.bin") == "200", "HEAD: 200")
        # Three requests on one connection: curl reuses it when the server keeps it alive.
        r = curl(f"-v {u}/index.html {u}/index.html {u}/index.html", 20)
        reused = r.stderr.decode().count("Re-using existing connection") + \
            r.stderr.decode().count("Reusing existing")
        c.check(r.stdout.count(b"<h1>shardnet</h1>") == 3 and reused >= 2,
                f"keep-alive: 3 responses, connection reused {reused} times")

        k = L.counters()
        code_, _ = L.stop_engine()
        c.check(code_ == 0, "clean exit")
        bad = L.malformed_in_capture()
        c.check(not bad, "tshark: nothing malformed from the engine" +
                "".join("\n     " + b for b in bad[:10]))
finally:
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(outside, ignore_errors=True)

c.finish()
