"""shardnet bench: every workload on shardnet and on Linux, in the same run,
on the same machine, with the same load generator and the same pinning.

Setup "veth": two network namespaces this script makes (and removes) joined by
a veth pair. The server's namespace holds one end; the client's holds the
other, with sn-loadgen (Linux sockets, epoll, one thread) pinned to the last
CPU. Servers, each pinned to CPU 0 (one server core):
  linux     sn-linux-server: epoll, one SO_REUSEPORT listener per thread, one
            thread; the kernel's address on the veth end.
  shardnet  the engine, one shard, AF_XDP on the veth end (copy mode: veth has
            no zero-copy), built-in services tcp-echo, discard and source.
  sn-host   the engine as above, with the echo served by sn-echo-server, a
            separate process on the same core, through the host interface
            (shared-memory queues, libshardnet).
Figures: rate = completed requests (or connections) in the measured window /
its length, after a warm-up; latency percentiles from the load generator's
histogram (send to full response, or connect() to full response); bulk Gbit/s
from the bytes the client moved; CPU = the server's (and the client's) CPU
time over the wall time (for Linux only the server process: its softirq work
on other contexts is not counted; the engine's busy time is its shard's).

Run as root: `shardnet bench [--quick] [--json FILE] [--plot FILE.png]`.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

SRV, CLI = "snb-srv", "snb-cli"
SRV_IF, CLI_IF = "snb0", "snb1"
SRV_IP, CLI_IP = "10.90.0.1", "10.90.0.2"
CONTROL = "/tmp/shardnet-bench.sock"


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, text=True, capture_output=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Veth:
    """The two namespaces and the veth pair between them."""

    def __enter__(self):
        self.__exit__()
        sh(f"ip netns add {SRV}")
        sh(f"ip netns add {CLI}")
        sh(f"ip link add {SRV_IF} netns {SRV} type veth peer name {CLI_IF} netns {CLI}")
        for ns, dev in ((SRV, SRV_IF), (CLI, CLI_IF)):
            sh(f"ip -n {ns} link set lo up")
            sh(f"ip -n {ns} link set {dev} up")
        sh(f"ip -n {CLI} addr add {CLI_IP}/24 dev {CLI_IF}")
        # Short connections: every client port, and TIME_WAIT ports reused
        # (RFC 6191 with timestamps), as any load generator configures.
        for k, v in (("net.ipv4.ip_local_port_range", "1024 65535"),
                     ("net.ipv4.tcp_tw_reuse", "1"),
                     ("net.core.somaxconn", "8192"),
                     ("net.ipv4.tcp_max_syn_backlog", "8192")):
            sh(f"ip netns exec {CLI} sysctl -qw {k}='{v}'")
            sh(f"ip netns exec {SRV} sysctl -qw {k}='{v}'")
        return self

    def __exit__(self, *exc):
        sh(f"ip netns del {SRV}", check=False)
        sh(f"ip netns del {CLI}", check=False)
        return False


def cpu_of(pid):
    """User plus system CPU seconds of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while not pred():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Server:
    """A server under test, started in the server namespace on CPU 0."""

    def __init__(self, kind, tools):
        self.kind = kind
        self.tools = tools
        self.procs = []

    def __enter__(self):
        t = self.tools
        pin = f"ip netns exec {SRV} taskset -c 0"
        if self.kind == "linux":
            sh(f"ip -n {SRV} addr add {SRV_IP}/24 dev {SRV_IF}")
            p = subprocess.Popen(f"exec {pin} {t.linux_server} --threads 1 --cpus 0", shell=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.procs.append(p)
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("sn-linux-server did not start: " + p.stderr.read())
        else:
            services = "--service discard:9 --service source:19"
            services += " --service tcp-echo:7" if self.kind == "shardnet" else ""
            p = subprocess.Popen(
                f"exec {pin} {t.shardnet} run --iface afxdp:{SRV_IF} --ip {SRV_IP}/24 --shards 1 "
                f"--control {CONTROL} --seed 1 {services}", shell=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.procs.append(p)
            wait_for(lambda: os.path.exists(CONTROL) or p.poll() is not None, 10, "the engine")
            if p.poll() is not None:
                raise RuntimeError("the engine did not start: " + p.stdout.read())
            if self.kind == "sn-host":
                h = subprocess.Popen(f"exec {pin} {t.echo_server} 7 --control {CONTROL}",
                                     shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
                self.procs.append(h)
                if "listening" not in h.stdout.readline():
                    raise RuntimeError("sn-echo-server did not start: " + h.stderr.read())
        sh(f"ip -n {CLI} neigh flush dev {CLI_IF}", check=False)
        return self

    def cpu(self):
        if self.kind == "linux":
            return cpu_of(self.procs[0].pid)
        busy = 0.0
        try:
            stats = json.loads(sh(f"{self.tools.shardnet} stats --json --control {CONTROL}").stdout)
            busy = sum(s["counters"].get("busy_ns", 0) for s in stats["shards"]) / 1e9
        except (subprocess.CalledProcessError, ValueError, KeyError):
            pass
        return busy + sum(cpu_of(p.pid) for p in self.procs[1:])

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.kind == "linux":
            sh(f"ip -n {SRV} addr flush dev {SRV_IF}", check=False)
        if os.path.exists(CONTROL):
            os.unlink(CONTROL)
        return False


def loadgen(tools, mode, port, conns, seconds, warmup, depth=1):
    cpu = os.sysconf("SC_NPROCESSORS_ONLN") - 1
    cmd = (f"ip netns exec {CLI} taskset -c {cpu} {tools.loadgen} --mode {mode} --server {SRV_IP} "
           f"--port {port} --conns {conns} --size 64 --duration {seconds} --warmup {warmup} "
           f"--depth {depth}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, shell=True, text=True, capture_output=True,
                       timeout=seconds + warmup + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = {"ok": False, "rate": 0, "gbps": 0, "errors": -1}
        log(f"    loadgen failed: {r.stderr.strip()[-300:]}")
    out["client_cpu"] = client_cpu / (seconds + warmup)
    return out


WORKLOADS = [
    # name, mode, port, connections
    ("rpc-1", "rpc", 7, 1),
    ("rpc-32", "rpc", 7, 32),
    ("rpc-1024", "rpc", 7, 1024),
    ("short-32", "short", 7, 32),
    ("upload-1", "upload", 9, 1),
    ("upload-8", "upload", 9, 8),
    ("download-1", "download", 19, 1),
    ("download-8", "download", 19, 8),
]
SERVERS = ["linux", "shardnet", "sn-host"]


def run_all(tools, seconds, warmup, only):
    rows = []
    for server in SERVERS:
        with Server(server, tools) as s:
            for name, mode, port, conns in WORKLOADS:
                if only and not any(name.startswith(o) for o in only):
                    continue
                if server == "sn-host" and mode not in ("rpc", "short"):
                    continue  # the host example serves echo only
                c0, t0 = s.cpu(), time.time()
                r = loadgen(tools, mode, port, conns, seconds, warmup)
                r["server_cpu"] = (s.cpu() - c0) / (time.time() - t0)
                r.update(setup="veth", server=server, workload=name)
                rows.append(r)
                log(f"  {server:9} {name:11} rate {r.get('rate', 0):>12,.0f}/s  "
                    f"p99 {r.get('p99_us', 0):>8.1f} us  {r.get('gbps', 0):6.2f} Gbit/s  "
                    f"server cpu {r['server_cpu']:.2f}  client cpu {r['client_cpu']:.2f}"
                    f"{'' if r.get('ok') else '  (FAILED)'}")
    return rows


def callgrind_rpc(tools, seconds):
    """The engine's instructions per 64-byte RPC (8 connections): the engine
    runs under callgrind, its counters are zeroed after a warm-up and dumped
    after a measured run; instructions over requests completed in between.
    User space only (the kernel's AF_XDP copies are not counted), and the
    engine sleeps when idle (--spin-us 0) so that spinning is not counted."""
    out = f"/tmp/shardnet-bench-{os.getpid()}.callgrind"
    p = subprocess.Popen(
        f"exec ip netns exec {SRV} taskset -c 0 valgrind --tool=callgrind --callgrind-out-file={out} "
        f"{tools.shardnet} run --iface afxdp:{SRV_IF} --ip {SRV_IP}/24 --shards 1 --spin-us 0 "
        f"--control {CONTROL} --seed 1 --service tcp-echo:7", shell=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(CONTROL) or p.poll() is not None, 60, "the engine")
        sh(f"ip -n {CLI} neigh flush dev {CLI_IF}", check=False)
        loadgen(tools, "rpc", 7, 8, 1, 0.5)
        # ip netns exec, taskset and valgrind each exec the next: one pid.
        sh(f"callgrind_control -z {p.pid}")
        r = loadgen(tools, "rpc", 7, 8, seconds, 0)
        sh(f"callgrind_control -d {p.pid}")
        total = 0
        dump = out + ".1"
        wait_for(lambda: os.path.exists(dump) and "totals:" in open(dump).read(), 30, "the dump")
        for line in open(dump):
            if line.startswith("summary:"):
                total += int(line.split()[1])
        return {"instructions": total, "requests": r.get("ops", 0),
                "per_request": total / r["ops"] if r.get("ops") else 0}
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for f in os.listdir("/tmp"):
            if f.startswith(os.path.basename(out)):
                os.unlink(os.path.join("/tmp", f))
        if os.path.exists(CONTROL):
            os.unlink(CONTROL)


def table(rows):
    by = {(r["workload"], r["server"]): r for r in rows}
    lines = ["| workload | figure | linux | shardnet | ratio | sn-host | ratio |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, mode, _, _ in WORKLOADS:
        lx = by.get((name, "linux"))
        if not lx:
            continue
        bulk = mode in ("upload", "download")
        figs = [("Gbit/s", "gbps", "{:.2f}")] if bulk else \
            [("per second", "rate", "{:,.0f}"), ("p50 us", "p50_us", "{:.1f}"),
             ("p99 us", "p99_us", "{:.1f}"), ("p99.9 us", "p999_us", "{:.1f}")]
        for label, key, fmt in figs:
            cells = [fmt.format(lx.get(key, 0))]
            for server in ("shardnet", "sn-host"):
                r = by.get((name, server))
                if r is None:
                    cells += ["", ""]
                    continue
                v, base = r.get(key, 0), lx.get(key, 0)
                cells += [fmt.format(v), f"{v / base:.2f}x" if base else "-"]
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    by = {(r["workload"], r["server"]): r for r in rows}
    names = [w[0] for w in WORKLOADS if (w[0], "linux") in by]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.27
    for i, server in enumerate(SERVERS):
        ratios = []
        for n in names:
            key = "gbps" if n.startswith(("upload", "download")) else "rate"
            r, base = by.get((n, server)), by[(n, "linux")].get(key, 0)
            ratios.append(r.get(key, 0) / base if r and base else 0)
        ax.bar([x + (i - 1) * width for x in range(len(names))], ratios, width, label=server)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("rate / Linux's rate")
    ax.set_title("shardnet bench (veth, one server core)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main():
    ap = argparse.ArgumentParser(prog="shardnet bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shardnet", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--linux-server", required=True)
    ap.add_argument("--echo-server", required=True)
    ap.add_argument("--seconds", type=float, default=5, help="measured window per run")
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--quick", action="store_true", help="1 s windows (a smoke run)")
    ap.add_argument("--only", action="append", help="workloads starting with this (repeatable)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--plot", help="draw the ratios into this PNG")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip counting the engine's instructions per request")
    tools = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("shardnet bench: needs root (network namespaces, veth, AF_XDP)")
    if tools.quick:
        tools.seconds, tools.warmup = 1.0, 0.5
    ncpu = os.sysconf("SC_NPROCESSORS_ONLN")
    log(f"shardnet bench: veth setup, server on CPU 0, client on CPU {ncpu - 1}, "
        f"{tools.seconds:g} s per run after {tools.warmup:g} s warm-up")
    started = time.time()
    cg = None
    with Veth():
        rows = run_all(tools, tools.seconds, tools.warmup, tools.only)
        if not tools.no_callgrind and sh("command -v valgrind", check=False).returncode == 0:
            cg = callgrind_rpc(tools, min(tools.seconds, 3))
    print(table(rows))
    if cg:
        print(f"\nshardnet server, callgrind: {cg['per_request']:,.0f} instructions per 64-byte RPC "
              f"({cg['instructions']:,} over {cg['requests']:,} requests on 8 connections; user "
              "space only, AF_XDP copy mode)")
    print(f"\n{len(rows)} runs in {time.time() - started:.0f} s. How: see `shardnet bench --help`.")
    if tools.json:
        with open(tools.json, "w") as f:
            json.dump({"machine": {"cpus": ncpu, "kernel": os.uname().release},
                       "seconds": tools.seconds, "rows": rows, "callgrind": cg}, f, indent=1)
    if tools.plot:
        plot(rows, tools.plot)
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
