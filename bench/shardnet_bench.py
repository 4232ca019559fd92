"""shardnet bench: every workload on shardnet and on Linux, in the same run,
on the same machine, with the same load generator and the same pinning.

Setup "veth": two network namespaces this script makes (and removes) joined by
a veth pair. Servers run in one, pinned to CPU 0 (one server core):
  linux     sn-linux-server: epoll, one SO_REUSEPORT listener per thread, one
            thread; the kernel's address on the veth end. (Scale: several
            processes, see below.)
  shardnet  the engine, one shard, AF_XDP on the veth end (copy mode: veth has
            no zero-copy), built-in services tcp-echo, discard and source.
  sn-host   the engine as above, with the echo served by sn-echo-server, a
            separate process on the same core, through the host interface
            (shared-memory queues, libshardnet).
Load generators run in the other namespace, pinned to the last CPU, each
against every server it is compared on:
  sn-loadgen        Linux sockets, epoll, one thread.
  sn-stack-loadgen  the same workloads on a shardnet stack of its own, on
                    AF_XDP on the client's veth end: it costs less per request
                    than Linux sockets, so the server is what limits.
Setup "one machine, no wire": sn-linux-server and sn-loadgen over the loopback
interface, against two engines joined by the shared-memory port (shm:), the
server engine on CPU 0 and sn-stack-loadgen on the last CPU.

Workloads: RPC, 64-byte requests and responses on 1, 32 and 1024 persistent
connections; short connections (connect, 64-byte request, response, close; 32
at a time); bulk upload to discard and download from source on 1 and 8
connections; scale: RPC on 32 connections while 1,000, 10,000 and 100,000
more are open and idle, with the memory the machine gave them and the
servers' resident size. Scale runs use sn-stack-loadgen against both servers:
it needs no descriptor per connection, and its one address opens the idle
connections, 512 handshakes at a time, to echo ports of their own from 7001
on, one per 32,768 (each pair of addresses has 64,512 client ports). A process
may hold at most `ulimit -Hn` descriptors (raising it needs CAP_SYS_RESOURCE),
so there sn-linux-server runs as enough processes (--processes), all on CPU 0:
each has SO_REUSEPORT listeners on those ports and a share of the idle
connections; the first alone serves port 7, so the 32 measured connections
are served as in the other runs. Figures: rate = requests (or connections)
completed in the measured window / its length, after a warm-up; latency
percentiles from the load generator's histogram (send to full response, or
connect() to full response); Gbit/s from the bytes the client moved; CPU over
the wall time: for the Linux server, CPU 0's busy time (its process and the
kernel's work on that core; what veth runs on the sender's core for it, its
receive path, is on the client's), for the engine its shard's busy time, for
the client its process's CPU time. Then the engine runs under callgrind for
its instructions per RPC.

Run as root: `shardnet bench [--quick] [--only WORKLOAD] [--json FILE]
[--plot FILE.png]`.
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


def cpu0_busy():
    """Seconds CPU 0 spent on anything but idling (user, system, interrupts,
    softirq), from /proc/stat: the Linux server's process and the kernel
    work done on its core, e.g. its transmit path."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu0 "):
                v = [int(x) for x in line.split()[1:]]
                return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while not pred():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


# Scale runs: echo ports for the idle connections, besides the measured
# connections' port 7; sn-stack-loadgen has one address, so each (its address,
# server port) pair can open at most 64,512 (client ports 1024-65535).
SCALE_PORT_BASE = 7001
SCALE_PER_PORT = 32768
SHM_NAME = "snbench"
# The shm link is an engine-to-engine link of our own: jumbo frames (Linux's
# loopback has a 64 KiB MTU), so both ends take 9472-byte packet buffers; and
# socket buffers of 4 MiB, as far as Linux's autotuning goes by default
# (tcp_wmem's maximum; the veth setup keeps the engine's 256 KiB default).
SHM_IFACE = f"shm:{SHM_NAME},mtu=9000"
SHM_BUFFERS = "--buffer-size 9472 --socket-buffer 4194304"
SHM_SRV_IP, SHM_CLI_IP = "10.92.0.1", "10.92.0.2"
STACK_CLI_IP = "10.90.0.3"  # the shardnet load generator's address on the client's veth end


class Server:
    """A server under test, started in the server namespace on CPU 0.
    kind: linux (epoll, kernel address on the veth end), shardnet (the engine
    on AF_XDP there), sn-host (the engine, echo by a host process), loopback
    (the Linux server on the namespace's 127.0.0.1), shm (the engine on the
    shared-memory port, for a second engine to join). idle_ports: more echo
    ports (the scale runs'); processes: the Linux server's (see the top)."""

    def __init__(self, kind, tools, idle_ports=(), processes=1):
        self.kind = kind
        self.tools = tools
        self.idle_ports = list(idle_ports)
        self.processes = processes
        self.procs = []
        self.ip = {"loopback": "127.0.0.1", "shm": SHM_SRV_IP}.get(kind, SRV_IP)

    def __enter__(self):
        t = self.tools
        pin = f"ip netns exec {SRV} taskset -c 0"
        if self.kind in ("linux", "loopback"):
            if self.kind == "linux":
                sh(f"ip -n {SRV} addr add {SRV_IP}/24 dev {SRV_IF}")
            more = ""
            if self.idle_ports:
                more = (f" --processes {self.processes} "
                        f"--idle-ports {','.join(map(str, self.idle_ports))}")
            p = subprocess.Popen(
                f"exec {pin} {t.linux_server} --threads 1 --cpus 0 --addr {self.ip}{more}",
                shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.procs.append(p)
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("sn-linux-server did not start: " + p.stderr.read())
        else:
            services = "--service discard:9 --service source:19"
            services += "" if self.kind == "sn-host" else " --service tcp-echo:7"
            services += "".join(f" --service tcp-echo:{port}" for port in self.idle_ports)
            iface = f"{SHM_IFACE} {SHM_BUFFERS}" if self.kind == "shm" else f"afxdp:{SRV_IF}"
            p = subprocess.Popen(
                f"exec {pin} {t.shardnet} run --iface {iface} --ip {self.ip}/24 --shards 1 "
                f"--control {CONTROL} --seed 1 --max-connections 400000 {services}", shell=True,
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
        if self.kind in ("linux", "loopback"):
            return cpu0_busy()  # the server alone is pinned there
        busy = 0.0
        try:
            stats = json.loads(sh(f"{self.tools.shardnet} stats --json --control {CONTROL}").stdout)
            busy = sum(s["counters"].get("busy_ns", 0) for s in stats["shards"]) / 1e9
        except (subprocess.CalledProcessError, ValueError, KeyError):
            pass
        return busy + sum(cpu_of(p.pid) for p in self.procs[1:])

    def rss(self):
        """Resident bytes of the server's processes: the engine's, or the
        Linux server's with its children (--processes)."""
        pids = [self.procs[0].pid]
        if self.kind in ("linux", "loopback"):
            pids += children_of(self.procs[0].pid)
        return sum(rss_of(pid) for pid in pids)

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


def loadgen(tools, mode, port, conns, seconds, warmup, client="kernel", server_ip=SRV_IP):
    """One load generator run, pinned to the last CPU. client: kernel
    (sn-loadgen, Linux sockets, in the client namespace), stack (sn-stack-
    loadgen, a shardnet stack on AF_XDP on the client's veth end), shm (the
    same on the shared-memory port), loopback (sn-loadgen in the server's
    namespace)."""
    cpu = os.sysconf("SC_NPROCESSORS_ONLN") - 1
    ns = SRV if client == "loopback" else CLI
    prog = tools.loadgen
    if client == "stack":
        prog = f"{tools.stack_loadgen} --iface afxdp:{CLI_IF} --ip {STACK_CLI_IP}/24"
    elif client == "shm":
        prog = f"{tools.stack_loadgen} --iface {SHM_IFACE} {SHM_BUFFERS} --ip {SHM_CLI_IP}/24"
    cmd = (f"ip netns exec {ns} taskset -c {cpu} {prog} --mode {mode} --server {server_ip} "
           f"--port {port} --conns {conns} --size 64 --duration {seconds} --warmup {warmup}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, shell=True, text=True, capture_output=True,
                       timeout=seconds + warmup + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = {"ok": False, "rate": 0, "gbps": 0, "errors": -1}
        log(f"    load generator failed: {r.stderr.strip()[-300:]}")
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

# (server, client): every server against the kernel load generator on veth;
# the Linux server and the engine also against the shardnet load generator
# (cheaper per request than Linux sockets, so the server is what limits);
# Linux loopback against two engines joined by the shared-memory port.
COMBOS = [
    ("linux", "kernel"),
    ("shardnet", "kernel"),
    ("sn-host", "kernel"),
    ("linux", "stack"),
    ("shardnet", "stack"),
    ("loopback", "loopback"),
    ("shm", "shm"),
]


def run_all(tools, seconds, warmup, only):
    """Every workload on every combination, the combinations of one workload
    back to back (each with a fresh server): this VM's speed drifts by 10-25%
    over minutes, and a ratio should compare runs made under the same drift."""
    rows = []
    for name, mode, port, conns in WORKLOADS:
        if only and not any(name.startswith(o) for o in only):
            continue
        for server, client in COMBOS:
            if client in ("stack", "shm") and not tools.stack_loadgen:
                continue
            if server == "sn-host" and mode not in ("rpc", "short"):
                continue  # the host example serves echo only
            with Server(server, tools) as s:
                c0, t0 = s.cpu(), time.time()
                r = loadgen(tools, mode, port, conns, seconds, warmup, client, s.ip)
                r["server_cpu"] = (s.cpu() - c0) / (time.time() - t0)
            r.update(server=server, client=client, workload=name)
            rows.append(r)
            log(f"  {server:8} {client:8} {name:11} {r.get('rate', 0):>10,.0f}/s  "
                f"p99 {r.get('p99_us', 0):>8.1f} us  {r.get('gbps', 0):6.2f} Gbit/s  "
                f"server cpu {r['server_cpu']:.2f}  client cpu {r['client_cpu']:.2f}"
                f"{'' if r.get('ok') else '  (FAILED)'}")
    return rows


def meminfo_available():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def children_of(pid):
    """The pids whose parent is pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


def linux_processes(n):
    """sn-linux-server processes to hold n connections: each holds about 1/P
    of them (SO_REUSEPORT spreads them by hash), with a quarter's margin,
    under the hard descriptor limit less 1,000."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 1
    return max(1, -(-(n * 5 // 4) // max(1000, hard - 1000)))


def rss_of(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def scale(tools, seconds, counts):
    """RPC on 32 connections while N more are open and idle, for each N, on
    the Linux server and the engine, with sn-stack-loadgen for both (see the
    top: the idle connections go to their own echo ports, and the Linux
    server runs as enough processes to hold them). Memory: what the machine
    lost (MemAvailable) with the N connections open, both ends included (the
    client's share is the same user-space stack for both servers; freed
    memory from the run before blurs it), and the servers' resident size then
    (the Linux server's processes summed, its kernel sockets not included;
    the engine keeps its peak: freed heap is reused, not returned)."""
    rows = []
    if not tools.stack_loadgen:
        log("  scale: skipped, no sn-stack-loadgen")
        return rows
    cpu = os.sysconf("SC_NPROCESSORS_ONLN") - 1
    top = max(counts)
    ports = [SCALE_PORT_BASE + i for i in range(-(-top // SCALE_PER_PORT))]
    processes = linux_processes(top + 64)
    for server in ("linux", "shardnet"):
        with Server(server, tools, idle_ports=ports, processes=processes) as s:
            for n in counts:
                time.sleep(1)  # the previous run's sockets are gone
                mem0 = meminfo_available()
                t0 = time.time()
                p = subprocess.Popen(
                    f"exec ip netns exec {CLI} taskset -c {cpu} {tools.stack_loadgen} "
                    f"--iface afxdp:{CLI_IF} --ip {STACK_CLI_IP}/24 --mode rpc --server {SRV_IP} "
                    f"--port 7 --conns 32 --size 64 --duration {seconds} --warmup 1 --idle {n} "
                    f"--idle-ports {','.join(map(str, ports))}", shell=True,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                err = ""
                for line in p.stderr:  # the idle connections are open: measure memory
                    err += line
                    if "idle connections open" in line:
                        break
                time.sleep(0.5)  # within the warm-up: the server's accept()s catch up
                mem = mem0 - meminfo_available()
                rss = s.rss()
                out, rest = p.communicate(timeout=seconds + 180)
                try:
                    r = json.loads(out.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    r = {"ok": False, "rate": 0}
                    log(f"    load generator failed: {(err + rest).strip()[-300:]}")
                else:  # how the idle connections went; everything if the run failed
                    said = (err + rest).splitlines()
                    log("\n".join("    " + line for line in said
                                   if not r.get("ok") or "idle connections" in line))
                r.update(server=server, idle=n, memory=mem, server_rss=rss,
                         processes=processes if server == "linux" else 1)
                rows.append(r)
                log(f"  scale {server:8} {n:>7} open  {r.get('rate', 0):>10,.0f}/s  "
                    f"p99 {r.get('p99_us', 0):>8.1f} us  machine memory {mem / 2**20:7.1f} MiB  "
                    f"server RSS {rss / 2**20:.1f} MiB  ({time.time() - t0:.0f} s)"
                    + ("" if r.get("ok") else "  (FAILED)"))
    return rows


def scale_table(rows):
    by = {(r["server"], r["idle"]): r for r in rows}
    procs = max((r.get("processes", 1) for r in rows if r["server"] == "linux"), default=1)
    lines = ["scale: RPC on 32 connections while N more are open and idle (sn-stack-loadgen, "
             f"veth; sn-linux-server as {procs} processes on the one core, past the descriptor "
             "limit; memory: MemAvailable lost, both ends; RSS: the server's user space):", "",
             "| open | linux /s | p99 us | memory MiB | server RSS MiB | shardnet /s | ratio "
             "| p99 us | memory MiB | engine RSS MiB (total) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sorted({r["idle"] for r in rows}):
        lx, sn = by.get(("linux", n), {}), by.get(("shardnet", n), {})
        ratio = f"{sn.get('rate', 0) / lx['rate']:.2f}x" if lx.get("rate") else "-"
        lines.append(f"| {n:,} | {lx.get('rate', 0):,.0f} | {lx.get('p99_us', 0):.1f} | "
                     f"{lx.get('memory', 0) / 2**20:.1f} | {lx.get('server_rss', 0) / 2**20:.1f} | "
                     f"{sn.get('rate', 0):,.0f} | {ratio} | {sn.get('p99_us', 0):.1f} | "
                     f"{sn.get('memory', 0) / 2**20:.1f} | {sn.get('server_rss', 0) / 2**20:.1f} |")
    return "\n".join(lines)


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


SECTIONS = [
    # title, baseline (server, client), compared [(label, server, client)]
    ("veth, Linux-socket load generator (sn-loadgen)", ("linux", "kernel"),
     [("shardnet", "shardnet", "kernel"), ("sn-host", "sn-host", "kernel")]),
    ("veth, shardnet load generator (sn-stack-loadgen, AF_XDP)", ("linux", "stack"),
     [("shardnet", "shardnet", "stack")]),
    ("one machine, no wire: Linux loopback against two engines over the shm port",
     ("loopback", "loopback"), [("shm", "shm", "shm")]),
]


def table(rows):
    by = {(r["workload"], r["server"], r["client"]): r for r in rows}
    out = []
    for title, base, compared in SECTIONS:
        lines = [f"{title}:", "",
                 "| workload | figure | " + base[0] + " | " +
                 " | ".join(f"{label} | ratio" for label, _, _ in compared) + " |",
                 "|---|---|---:|" + "---:|---:|" * len(compared)]
        for name, mode, _, _ in WORKLOADS:
            b = by.get((name, *base))
            if not b:
                continue
            bulk = mode in ("upload", "download")
            figs = [("Gbit/s", "gbps", "{:.2f}")] if bulk else \
                [("per second", "rate", "{:,.0f}"), ("p50 us", "p50_us", "{:.1f}"),
                 ("p99 us", "p99_us", "{:.1f}"), ("p99.9 us", "p999_us", "{:.1f}")]
            for label, key, fmt in figs:
                cells = [fmt.format(b.get(key, 0))]
                for _, server, client in compared:
                    r = by.get((name, server, client))
                    if r is None:
                        cells += ["", ""]
                        continue
                    v, x = r.get(key, 0), b.get(key, 0)
                    cells += [fmt.format(v), f"{v / x:.2f}x" if x else "-"]
                lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
        if len(lines) > 4:
            out.append("\n".join(lines))
    return "\n\n".join(out)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    by = {(r["workload"], r["server"], r["client"]): r for r in rows}
    names = [w[0] for w in WORKLOADS]
    client_name = {"kernel": "veth, sn-loadgen", "stack": "veth, sn-stack-loadgen",
                   "loopback": "one machine"}
    bars = [(f"{label} / {base[0]} ({client_name[base[1]]})", (server, client), base)
            for title, base, compared in SECTIONS for label, server, client in compared]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / len(bars)
    for i, (label, combo, base) in enumerate(bars):
        ratios = []
        for n in names:
            key = "gbps" if n.startswith(("upload", "download")) else "rate"
            r, b = by.get((n, *combo)), by.get((n, *base))
            ratios.append(r.get(key, 0) / b.get(key, 0) if r and b and b.get(key) else 0)
        ax.bar([x + (i - len(bars) / 2 + 0.5) * width for x in range(len(names))], ratios, width,
               label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("rate / Linux's rate")
    ax.set_title("shardnet bench: rate against Linux's (one server core)")
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
    ap.add_argument("--stack-loadgen", default="")
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
    scale_rows = []
    # Scale: sn-stack-loadgen needs no descriptor per connection, and the
    # Linux server runs as enough processes to stay under the descriptor limit.
    counts = [1000, 10000] if tools.quick else [1000, 10000, 100000]
    with Veth():
        rows = run_all(tools, tools.seconds, tools.warmup, tools.only)
        if not tools.only or any("scale".startswith(o) for o in tools.only):
            scale_rows = scale(tools, min(tools.seconds, 3), counts)
        if not tools.no_callgrind and sh("command -v valgrind", check=False).returncode == 0:
            cg = callgrind_rpc(tools, min(tools.seconds, 3))
    print(table(rows))
    if scale_rows:
        print("\n" + scale_table(scale_rows))
    if cg:
        print(f"\nshardnet server, callgrind: {cg['per_request']:,.0f} instructions per 64-byte RPC "
              f"({cg['instructions']:,} over {cg['requests']:,} requests on 8 connections; user "
              "space only, AF_XDP copy mode)")
    print(f"\n{len(rows) + len(scale_rows)} runs in {time.time() - started:.0f} s. "
          "How: see `shardnet bench --help`.")
    if tools.json:
        with open(tools.json, "w") as f:
            json.dump({"machine": {"cpus": ncpu, "kernel": os.uname().release},
                       "seconds": tools.seconds, "rows": rows, "scale": scale_rows,
                       "callgrind": cg}, f, indent=1)
    if tools.plot:
        plot(rows, tools.plot)
    failed = [f"{r['server']}/{r['client']}/{r['workload']}" for r in rows if not r.get("ok")]
    failed += [f"scale/{r['server']}/{r['idle']}" for r in scale_rows if not r.get("ok")]
    if failed:
        log("failed runs: " + ", ".join(failed))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
