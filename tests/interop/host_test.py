"""Interop: applications in their own processes use the engine through
libshardnet (the host interface), with two shards on a two-queue TAP.
sn-echo-server and sn-http-server attached at once as two processes: Linux
echoes 16 MiB byte-exact and 500 concurrent connections through the one, and
curl fetches a 64 MiB file with a matching SHA-256 through the other;
sn-client reaches a Linux listener through the engine. Then the echo server
is killed with SIGKILL in the middle of transfers: its peers see their
connections end, a download from the HTTP server finishes byte-exact, and
the stats show the dead host gone. A process without permission on the control
socket cannot attach, and says why."""
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
examples = os.path.normpath(os.path.join(os.path.dirname(binary), "..", "..", "examples"))
echo_server = os.path.join(examples, "sn-echo-server")
http_server = os.path.join(examples, "sn-http-server")
client = os.path.join(examples, "sn-client")
c = lab.Checks()


def start_host(args):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    if "listening" not in line:
        raise RuntimeError(f"{args} did not start: {line}{p.stdout.read()}")
    return p


www = tempfile.mkdtemp(prefix="sn-host-")
big = random.Random(7).randbytes(64 << 20)
with open(os.path.join(www, "big.bin"), "wb") as f:
    f.write(big)
big_sha = hashlib.sha256(big).hexdigest()
del big


def curl_sha(url):
    r = subprocess.run(f"curl -sf --max-time 120 {url} | sha256sum", shell=True,
                       capture_output=True, text=True)
    return r.stdout.split()[0] if r.stdout else ""


with lab.Lab(binary, tag="hi", extra_args=["--shards", "2"]) as L:
    a = start_host([echo_server, "17000", "--control", L.control])
    b = start_host([http_server, "17080", www, "--control", L.control])
    st = L.stats()
    c.check(st["hosts"]["attached"] == 2, f"two hosts attached: {st['hosts']}")

    d = random.Random(1).randbytes(16 << 20)
    t = time.monotonic()
    back = lab.tcp_echo((L.engine_ip, 17000), d, timeout=120)
    c.check(back == d, f"16 MiB echoed byte-exact through host A "
                       f"({len(back)} bytes, {time.monotonic() - t:.1f} s)")

    results = [False] * 500

    def one(i):
        data = random.Random(1000 + i).randbytes(16 << 10)
        try:
            results[i] = lab.tcp_echo((L.engine_ip, 17000), data, timeout=120) == data
        except OSError as e:
            print("echo", i, "failed:", e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(500)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(180)
    c.check(all(results), f"500 concurrent connections through host A byte-exact: {sum(results)}")
    t = time.monotonic()
    got = curl_sha(f"http://{L.engine_ip}:17080/big.bin")
    c.check(got == big_sha, f"curl fetched 64 MiB through host B, SHA-256 matches "
                            f"({time.monotonic() - t:.1f} s)")
    per_shard = [s["counters"].get("tcp_accepted", 0) for s in L.stats()["shards"]]
    c.check(min(per_shard) > 0, f"both shards accepted connections for the hosts: {per_shard}")

    # sn-client (a host) reaches a Linux listener through the engine.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((L.linux_ip, 19000))
    srv.listen(8)

    def linux_echo():
        conn, _ = srv.accept()
        with conn:
            while True:
                b_ = conn.recv(65536)
                if not b_:
                    break
                conn.sendall(b_)
    le = threading.Thread(target=linux_echo)
    le.start()
    r = subprocess.run([client, L.linux_ip, "19000", "--bytes", str(4 << 20), "--control", L.control],
                       capture_output=True, text=True, timeout=120)
    le.join(10)
    srv.close()
    c.check(r.returncode == 0, f"sn-client echoed 4 MiB through a Linux listener: "
                               f"{(r.stdout + r.stderr).strip()}")

    # Kill host A in the middle of transfers to both hosts.
    victims, download = {}, {}

    def transfer(key):
        data = random.Random(key).randbytes(64 << 20)
        try:
            s = socket.create_connection((L.engine_ip, 17000), timeout=30)
            got = lab.echo_on(s, data, timeout=60)
            s.close()
            victims[key] = (got == data, len(got))
        except OSError as e:
            victims[key] = (False, repr(e))

    def fetch():
        download["sha"] = curl_sha(f"http://{L.engine_ip}:17080/big.bin")
    # The victims' transfers are long enough to be under way at the kill.
    ts = [threading.Thread(target=transfer, args=(k,)) for k in range(4)]
    ts.append(threading.Thread(target=fetch))
    for th in ts:
        th.start()
    time.sleep(0.5)
    a.send_signal(signal.SIGKILL)
    a.wait()
    for th in ts:
        th.join(120)
    c.check(all(not ok for ok, _ in victims.values()) and len(victims) == 4,
            f"the killed host's connections ended: {victims}")
    c.check(download.get("sha") == big_sha,
            "the other host's download finished byte-exact (SHA-256 matches)")
    deadline = time.time() + 5
    while time.time() < deadline and L.stats()["hosts"]["attached"] != 1:
        time.sleep(0.1)
    st = L.stats()
    detaches = sum(s["counters"].get("host_detaches", 0) for s in st["shards"])
    sockets = sum(s["counters"].get("host_sockets", 0) for s in st["shards"])
    # Each shard let go of sn-client (detached) and of the killed host.
    # Left: host B's listener on each shard, and the connections of the
    # download it served (closed, maybe not yet forgotten).
    c.check(st["hosts"]["attached"] == 1 and detaches == 2 * len(st["shards"])
            and sockets <= 2 * len(st["shards"]),
            f"the dead host's region and sockets released: {st['hosts']}, "
            f"{detaches} shard detaches, {sockets} host sockets left")
    try:
        s = socket.create_connection((L.engine_ip, 17000), timeout=5)
        s.close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    c.check(refused, "the dead host's port is closed")

    # Without permission on the control socket: no attach, and a reason.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        client, L.linux_ip, "19000", "--control", L.control],
                       capture_output=True, text=True, timeout=30)
    c.check(r.returncode != 0 and "permission" in r.stderr.lower(),
            f"a process without permission cannot attach: {r.stderr.strip()}")

    shutil.rmtree(www, ignore_errors=True)
    b.send_signal(signal.SIGTERM)
    c.check(b.wait(timeout=10) == 0, "host B detached cleanly on SIGTERM")
    bad = L.malformed_in_capture()
    c.check(not bad, f"nothing malformed from the engine: {bad[:5]}")
    code, out = L.stop_engine()
    c.check(code == 0, f"engine stopped cleanly ({code})")
c.finish()
