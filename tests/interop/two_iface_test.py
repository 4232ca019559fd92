"""Interop: one engine with two shards and two TAP interfaces on two subnets
(Fig. 17), each TAP's Linux end in a namespace of its own, so each subnet is
reached only by its own Linux. From both namespaces at once: 20 concurrent
echo connections byte-exact, UDP echo, 100 HTTP fetches with curl. The stats
show both shards served on both interfaces, and the engine forwards nothing from one
subnet to the other (it is a host, not a router).
tshark checks every frame the engine sent on either link."""
import ctypes
import os
import random
import socket
import subprocess
import tempfile
import threading
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

www = tempfile.mkdtemp(prefix="sn-2if-")
page = random.Random(9).randbytes(20000)
with open(os.path.join(www, "index.html"), "wb") as f:
    f.write(page)

pid = os.getpid()
ctl = f"/tmp/shardnet-sn-2if-{pid}.sock"
nets = []
for k in (1, 2):
    nets.append({
        "ns": f"sn-2if{k}-{pid}",
        "tap": f"sn2if{k}{pid % 10000}",
        "linux": f"10.216.{k}.1",
        "engine": f"10.216.{k}.2",
        "mac": f"02:5e:00:00:01:0{k}",
        "pcap": f"/tmp/sn-2if{k}-{pid}.pcap",
    })

libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    """Moves the calling thread (only it) into namespace `ns`."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


engine = None
tsharks = []
try:
    args = [binary, "run", "--shards", "2", "--name", f"sn-2if-{pid}", "--control", ctl,
            "--seed", "3", "--service", "tcp-echo:7", "--service", "udp-echo:7",
            "--service", f"http:80:{www}"]
    for n in nets:
        args += ["--iface", f"tap:{n['tap']},mac={n['mac']}", "--ip", f"{n['engine']}/24"]
    engine = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 10
    while not os.path.exists(ctl) or any(
            lab.sh(f"ip link show dev {n['tap']}", check=False).returncode for n in nets):
        if engine.poll() is not None or time.time() > deadline:
            raise RuntimeError("engine did not start: " + engine.stdout.read())
        time.sleep(0.02)
    # Each TAP's Linux end into its own namespace (the engine keeps its queues).
    for n in nets:
        lab.sh(f"ip netns add {n['ns']}")
        lab.sh(f"ip link set {n['tap']} netns {n['ns']}")
        ex = f"ip netns exec {n['ns']}"
        lab.sh(f"{ex} ip link set lo up")
        lab.sh(f"{ex} ip addr add {n['linux']}/24 dev {n['tap']}")
        lab.sh(f"{ex} ip link set {n['tap']} up")
        tsharks.append(subprocess.Popen(
            ["ip", "netns", "exec", n["ns"], "tshark", "-q", "-B", "64", "-i", n["tap"],
             "-w", n["pcap"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for n in nets:
        deadline = time.time() + 15
        while not os.path.exists(n["pcap"]) and time.time() < deadline:
            time.sleep(0.05)
    time.sleep(0.5)

    def work(n, out):
        enter(n["ns"])
        # 20 echo connections at once, each from a thread in this namespace.
        res = [False] * 20

        def one(i):
            enter(n["ns"])
            d = random.Random(i).randbytes(256 << 10)
            try:
                res[i] = lab.tcp_echo((n["engine"], 7), d) == d
            except OSError as e:
                print(n["ns"], "echo failed:", e)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        out["echo"] = sum(res)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        good = 0
        for i in range(50):
            d = random.Random(i).randbytes(100 + i * 20)
            s.sendto(d, (n["engine"], 7))
            try:
                b, src = s.recvfrom(65536)
                good += b == d and src[0] == n["engine"]
            except socket.timeout:
                pass
        out["udp"] = good
        # A host, not a router: with the engine as this side's gateway to
        # the other subnet, the other Linux is still not reached through it.
        other = nets[1 - nets.index(n)]
        ex = ["ip", "netns", "exec", n["ns"]]
        subprocess.run(ex + ["ip", "route", "add", f"{other['linux']}/32", "via", n["engine"]],
                       check=True)
        r = subprocess.run(ex + ["ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", other["linux"]],
                           capture_output=True)
        out["not_forwarded"] = r.returncode != 0
        subprocess.run(ex + ["ip", "route", "del", f"{other['linux']}/32"], check=True)

    outs = [{}, {}]
    ts = [threading.Thread(target=work, args=(n, o)) for n, o in zip(nets, outs)]
    for t in ts:
        t.start()
    # 100 curl fetches from each namespace meanwhile.
    fetched = []
    for n in nets:
        urls = " ".join([f"http://{n['engine']}/index.html"] * 100)
        fetched.append(subprocess.Popen(
            f"ip netns exec {n['ns']} curl -s --max-time 60 {urls} | sha256sum", shell=True,
            stdout=subprocess.PIPE, text=True))
    for t in ts:
        t.join(300)
    import hashlib
    want = hashlib.sha256(page * 100).hexdigest()
    for n, o, f in zip(nets, outs, fetched):
        got = f.communicate(timeout=120)[0].split()[0]
        c.check(o.get("echo") == 20, f"{n['ns']}: 20 concurrent echoes byte-exact: {o.get('echo')}")
        c.check(o.get("udp") == 50, f"{n['ns']}: UDP echo from {n['engine']}: {o.get('udp')}/50")
        c.check(got == want, f"{n['ns']}: 100 HTTP fetches, byte-exact")
        c.check(o.get("not_forwarded"),
                f"{n['ns']}: the engine does not forward to the other subnet's Linux")

    st = lab.json.loads(lab.sh(f"{binary} stats --json --control {ctl}").stdout)
    c.check(len(st["shards"]) == 2, "two shards")
    not_ours = sum(s["counters"]["drop_ip_not_for_us"] for s in st["shards"])
    c.check(not_ours >= 4, f"pings to forward dropped as not ours: {not_ours}")
    for s in st["shards"]:
        rx = [i["rx_frames"] for i in s["ifaces"]]
        tx = [i["tx_frames"] for i in s["ifaces"]]
        c.check(len(rx) == 2 and min(tx) > 0,
                f"shard {s['shard']} sent on both interfaces: rx {rx} tx {tx}")
        c.check(s["counters"]["tcp_accepted"] > 0,
                f"shard {s['shard']} accepted connections: {s['counters']['tcp_accepted']}")

    for t in tsharks:
        t.send_signal(2)
        t.wait(timeout=10)
    tsharks = []
    for n in nets:
        r = lab.sh(f"tshark -r {n['pcap']} -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
                   f"-o tcp.check_checksum:FALSE {lab.no_payload_guessing()} "
                   f"-Y 'eth.src == {n['mac']} && (_ws.malformed || "
                   "ip.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || "
                   "icmp.checksum.status == \"Bad\")'",
                   check=False)
        bad = [l for l in r.stdout.splitlines() if l.strip()]
        bad += lab.bad_tcp_checksums(n['pcap'], n['mac'])
        c.check(r.returncode == 0 and not bad, f"{n['tap']}: nothing malformed: {bad[:5]}")
        # The engine sends nothing of one subnet on the other's link.
        other = nets[1 - nets.index(n)]
        r = lab.sh(f"tshark -r {n['pcap']} -Y 'eth.src == {n['mac']} && "
                   f"(ip.addr == {other['engine']} || ip.addr == {other['linux']})'", check=False)
        c.check(not r.stdout.strip(), f"{n['tap']}: the engine sent no frame of the other subnet")

    engine.terminate()
    code = engine.wait(timeout=10)
    c.check(code == 0, f"engine stopped cleanly ({code})")
finally:
    for t in tsharks:
        t.kill()
    if engine and engine.poll() is None:
        engine.kill()
    for n in nets:
        lab.sh(f"ip netns del {n['ns']}", check=False)
        if os.path.exists(n["pcap"]):
            os.unlink(n["pcap"])
c.finish()
