"""Interop: two engines on one machine joined by the shared-memory port
(--iface shm:NAME), with one shard each and then two. Engine A serves
tcp-echo and udp-echo; through engine B, sn-client (an application on the
host interface) echoes 16 MiB byte-exact from A, then eight clients at once,
and one echoes 4 MiB the other way, from B's tcp-echo through A.
Both engines' counters show the frames crossed the shm port with no error.
An engine with another shard count, and a third engine, are refused and say
why; an engine killed with SIGKILL is restarted and takes its side over.
Both stop cleanly on SIGTERM, and the shared-memory object and its doorbells
are gone afterwards. No network namespace is needed: nothing reaches the
kernel's network stack."""
import glob
import json
import os
import signal
import subprocess
import threading
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
client = os.path.normpath(os.path.join(os.path.dirname(binary), "..", "..", "examples",
                                       "sn-client"))
c = lab.Checks()
A_IP, B_IP = "10.231.0.1", "10.231.0.2"


class Engine:
    """A shardnet engine on shm:NAME, its control socket in /tmp."""

    def __init__(self, tag, name, ip, shards, services=(), wait=True):
        self.control = f"/tmp/shardnet-shm-{os.getpid()}-{tag}.sock"
        if os.path.exists(self.control):
            os.unlink(self.control)
        args = [binary, "run", "--iface", f"shm:{name}", "--ip", f"{ip}/24",
                "--shards", str(shards), "--name", f"shm{tag}", "--control", self.control,
                "--seed", "7"]
        for s in services:
            args += ["--service", s]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        if not wait:
            return
        deadline = time.time() + 10
        while not os.path.exists(self.control):
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"engine {tag} did not start: " + self.p.stdout.read())
            time.sleep(0.02)

    def stats(self):
        out = lab.sh(f"{binary} stats --json --control {self.control}").stdout
        return json.loads(out)

    def port_counters(self):
        """The shm port's counters of every shard: a list, one dict per shard."""
        return [shard["ifaces"][0] for shard in self.stats()["shards"]]

    def refused(self, timeout=10):
        """For an engine expected not to start: (exit code, output)."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None, "still running"
        return self.p.returncode, self.p.stdout.read()

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return -1, self.p.stdout.read()
        return self.p.returncode, self.p.stdout.read()


def sn_client(engine, nbytes, to=A_IP, timeout=120):
    r = subprocess.run([client, to, "7", "--bytes", str(nbytes), "--control", engine.control],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode == 0 and "byte-exact" in r.stdout, (r.stdout + r.stderr).strip()


def shm_files(name):
    return sorted(glob.glob(f"/dev/shm/shardnet-port-{name}*"))


def clean_port(label, engine):
    """No error on any shard's shm port; frames went both ways. Two kinds of
    drop are not errors: frames sent before the other engine joined
    (shm_tx_no_peer: the first ARP announcement) and frames the other
    engine's full ring refused (shm_tx_ring_full: congestion, as on a NIC's
    ring, when eight connections outrun a consumer sharing two cores with
    everything else; TCP recovers them). Both are reported."""
    per = engine.port_counters()
    rx = sum(p["rx_frames"] for p in per)
    tx = sum(p["tx_frames"] for p in per)
    bad = {k: sum(p[k] for p in per)
           for k in ("drop_rx_errors", "shm_rx_bad_length", "shm_ring_broken",
                     "drop_tx_oversize")}
    full = sum(p["shm_tx_ring_full"] for p in per)
    no_peer = sum(p["shm_tx_no_peer"] for p in per)
    tx_err = sum(p["drop_tx_errors"] for p in per) - full - no_peer
    bells = sum(p["shm_doorbells"] for p in per)
    c.check(rx > 0 and tx > 0 and not any(bad.values()) and tx_err == 0,
            f"{label}: frames over the shm port and no errors (rx {rx}, tx {tx} frames, per "
            f"shard rx {[p['rx_frames'] for p in per]}, {bells} doorbells, {bad}, other tx "
            f"errors {tx_err}; dropped: {full} on a full ring, {no_peer} before the peer came)")


def run(shards):
    name = f"t{os.getpid() % 100000}s{shards}"
    for f in shm_files(name):
        os.unlink(f)
    a = Engine(f"a{shards}", name, A_IP, shards, services=["tcp-echo:7", "udp-echo:7"])
    b = None
    try:
        files = shm_files(name)
        c.check(len(files) == 1 + 2 * shards,
                f"{shards} shard(s): engine A made the object and {2 * shards} doorbells: "
                f"{files}")
        wrong = Engine(f"w{shards}", name, B_IP, 3 - shards, wait=False)
        code, out = wrong.refused()
        c.check(code not in (0, None) and "--shards" in out,
                f"{shards} shard(s): an engine with {3 - shards} shard(s) is refused: "
                f"{out.strip()}")
        b = Engine(f"b{shards}", name, B_IP, shards, services=["tcp-echo:7"])

        ok, out = sn_client(b, 16 << 20)
        c.check(ok, f"{shards} shard(s): 16 MiB echoed byte-exact from A through B: {out}")

        results = [None] * 8

        def one(i):
            results[i] = sn_client(b, (1 << 20) + i * 4097)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(180)
        c.check(all(r and r[0] for r in results),
                f"{shards} shard(s): 8 concurrent sn-client runs byte-exact: "
                f"{[r[1] if r else 'hung' for r in results if not (r and r[0])]}")
        # And the other way: through A to B's tcp-echo. Each sn-client's one
        # connection opens on its engine's shard 0, and the far engine's
        # dispatcher spreads them; this way every ring carries frames.
        ok, out = sn_client(a, 4 << 20, to=B_IP)
        c.check(ok, f"{shards} shard(s): 4 MiB echoed byte-exact from B through A: {out}")
        per_ring = [p["rx_frames"] for e in (a, b) for p in e.port_counters()]
        c.check(all(per_ring), f"{shards} shard(s): every ring carried frames: {per_ring}")
        clean_port(f"{shards} shard(s), engine B", b)
        clean_port(f"{shards} shard(s), engine A", a)
        accepted = [s["counters"].get("tcp_passive_opens", 0) + s["counters"].get(
            "tcp_accepted", 0) for s in a.stats()["shards"]]
        c.check(sum(accepted) >= 9,
                f"{shards} shard(s): A's tcp-echo took the connections, per shard {accepted}")

        third = Engine(f"c{shards}", name, "10.231.0.3", shards, wait=False)
        code, out = third.refused()
        c.check(code not in (0, None) and "already joined" in out,
                f"{shards} shard(s): a third engine is refused: {out.strip()}")

        if shards == 1:
            # B dies without leaving; a new B takes its side over.
            b.stop(signal.SIGKILL)
            if os.path.exists(b.control):  # a killed engine leaves its socket behind
                os.unlink(b.control)
            c.check(len(shm_files(name)) == 1 + 2 * shards,
                    "after B's SIGKILL the object stays (A still holds it)")
            b = Engine(f"b{shards}r", name, B_IP, shards, services=["tcp-echo:7"])
            ok, out = sn_client(b, 1 << 20)
            c.check(ok, f"a restarted B takes the dead one's side over: 1 MiB echoed: {out}")
            per = b.port_counters()
            c.check(sum(p["drop_rx_errors"] + p["shm_ring_broken"] for p in per) == 0,
                    f"the restarted B saw no broken ring: {per}")
    finally:
        code_b, out_b = b.stop() if b else (0, "")
        code_a, out_a = a.stop()
    c.check(code_b == 0 and code_a == 0,
            f"{shards} shard(s): both engines stopped cleanly on SIGTERM "
            f"(B {code_b}, A {code_a}){'' if code_a == 0 else ': ' + out_a}"
            f"{'' if code_b == 0 else ': ' + out_b}")
    left = shm_files(name)
    c.check(not left, f"{shards} shard(s): the shared-memory object and doorbells are gone: {left}")
    for f in left:
        os.unlink(f)


run(1)
run(2)
c.finish()
