"""A lab for interop tests: a network namespace this test makes, the engine on
a TAP device inside it (or, with device="afxdp"/"afpacket", on one end of a
veth pair; with device="dpdk", on a TAP that DPDK's net_tap makes), the Linux
side addressed, a tshark capture of everything on the link, and everything
removed afterwards.

Only addresses inside the namespace are ever a target. Needs root: without it
a test exits 77, which ctest reports as skipped, loudly.
"""
import ctypes
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SKIP = 77
CLONE_NEWNET = 0x40000000


def require_root():
    if os.geteuid() != 0:
        print("SKIPPED: interop tests need root (network namespaces, TAP); CI runs them as root",
              file=sys.stderr)
        sys.exit(SKIP)


def sh(cmd, check=True, **kw):
    return subprocess.run(cmd, shell=True, check=check, text=True, capture_output=True, **kw)


class Lab:
    """with Lab(binary, services=[...]) as lab: ... -- the engine at lab.engine_ip."""

    def __init__(self, binary, services=(), iface_opts="", tag="t", capture=True, extra_args=(),
                 device="tap", queues=2):
        self.binary = binary
        self.device = device
        self.queues = queues  # veth: receive/transmit queues of each end (one per shard)
        self.services = list(services)
        self.iface_opts = iface_opts
        self.ns = f"sn-{tag}-{os.getpid()}"
        self.tap = f"sn{tag}{os.getpid() % 10000}"[:15]  # the Linux side's interface
        self.dev = f"sx{tag}{os.getpid() % 10000}"[:15]  # veth: the engine's end
        self.linux_ip = "10.214.0.1"
        self.engine_ip = "10.214.0.2"
        self.engine_mac = "02:5e:00:00:00:02"
        self.control = f"/tmp/shardnet-{self.ns}.sock"
        self.pcap = f"/tmp/{self.ns}.pcap"
        self.capture = capture
        self.extra_args = list(extra_args)
        self.engine = None
        self.tshark = None

    def __enter__(self):
        sh(f"ip netns add {self.ns}")
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        os.close(fd)
        sh("ip link set lo up")
        engine_if = self.tap
        if self.device == "dpdk":  # DPDK's net_tap makes the TAP, named by its iface=
            engine_if = f"net_tap0,devargs=iface={self.tap}"
        elif self.device != "tap":
            q = f"numtxqueues {self.queues} numrxqueues {self.queues}"
            sh(f"ip link add {self.dev} {q} type veth peer name {self.tap} {q}")
            sh(f"ip link set {self.dev} up")
            engine_if = self.dev
        args = [self.binary, "run", "--iface",
                f"{self.device}:{engine_if},mac={self.engine_mac}{self.iface_opts}",
                "--ip", f"{self.engine_ip}/24", "--name", self.ns, "--control", self.control,
                "--seed", "7"] + self.extra_args
        for s in self.services:
            args += ["--service", s]
        self.engine = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
        deadline = time.time() + 10
        # (/sys/class/net shows the namespace sysfs was mounted in, so ask ip.)
        while (sh(f"ip link show dev {self.tap}", check=False).returncode != 0
               or not os.path.exists(self.control)):
            if self.engine.poll() is not None or time.time() > deadline:
                raise RuntimeError("engine did not start: " + self.engine.stdout.read())
            time.sleep(0.02)
        sh(f"ip addr add {self.linux_ip}/24 dev {self.tap}")
        sh(f"ip link set {self.tap} up")
        if self.capture:
            self.tshark = subprocess.Popen(
                ["tshark", "-q", "-B", "64", "-i", self.tap, "-w", self.pcap],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            # Wait for tshark to start capturing.
            deadline = time.time() + 15
            while not os.path.exists(self.pcap) and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
        return self

    def stop_engine(self):
        """SIGTERM; returns (exit code, output)."""
        if self.engine.poll() is None:
            self.engine.send_signal(signal.SIGTERM)
            try:
                self.engine.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.engine.kill()
                self.engine.wait()
                return -1, self.engine.stdout.read()
        return self.engine.returncode, self.engine.stdout.read()

    def __exit__(self, *exc):
        if self.tshark:
            self.tshark.send_signal(signal.SIGINT)
            try:
                self.tshark.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.tshark.kill()
        if self.engine and self.engine.poll() is None:
            self.stop_engine()
        sh(f"ip netns del {self.ns}", check=False)
        return False

    # ----- probes -----

    def stats(self):
        out = sh(f"{self.binary} stats --json --control {self.control}").stdout
        return json.loads(out)

    def counters(self):
        """Every shard's counters, summed (one shard: its own)."""
        total = {}
        for shard in self.stats()["shards"]:
            for k, v in shard["counters"].items():
                total[k] = total.get(k, 0) + v
        return total

    def faults(self):
        """The fault injector's counters, summed over every shard's queue."""
        total = {}
        for shard in self.stats()["shards"]:
            for f in shard["faults"]:
                for k, v in f.items():
                    total[k] = total.get(k, 0) + v
        return total

    def shard_counters(self):
        return [shard["counters"] for shard in self.stats()["shards"]]

    def ping(self, size, count=5):
        r = sh(f"ping -n -c {count} -i 0.2 -W 2 -s {size} {self.engine_ip}", check=False)
        for line in r.stdout.splitlines():
            if "received" in line:
                return int(line.split(",")[1].split()[0]), line
        return 0, r.stdout + r.stderr

    def udp_socket(self, timeout=2.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        return s

    def malformed_in_capture(self):
        """Engine-sent packets that tshark calls malformed, or flags with bad
        checksums or expert warnings/errors. Returns a list of lines."""
        if not self.capture:
            return []
        if self.tshark and self.tshark.poll() is None:
            time.sleep(0.5)
            self.tshark.send_signal(signal.SIGINT)
            self.tshark.wait(timeout=10)
            self.tshark = None
        # Expert warnings count, except the one Wireshark puts on every RST
        # ("Connection reset (RST)": a reset to a closed port is correct) and
        # the two that say the capture missed packets (at full speed tshark
        # can fall behind; the link itself loses nothing), a zero or full
        # window with its probes: flow control holding a fast sender back is
        # correct,
        # and a payload dissector's "not enough data" (Wireshark guessing a
        # protocol in random test bytes; it says nothing about our headers).
        flt = (f"eth.src == {self.engine_mac} && (_ws.malformed"
               " || (_ws.expert.severity >= warning && !(tcp.flags.reset == 1"
               " && _ws.expert.message == \"Connection reset (RST)\")"
               " && !tcp.analysis.ack_lost_segment && !tcp.analysis.lost_segment"
               " && !tcp.analysis.zero_window && !tcp.analysis.zero_window_probe"
               " && !tcp.analysis.window_full"
               " && _ws.expert.message != \"Not enough data to decode.\""
               " && !tcp.analysis.zero_window_probe_ack)"
               " || ip.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\""
               " || icmp.checksum.status == \"Bad\")")
        # TCP checksums apart (bad_tcp_checksums): a partial one is correct
        # where the port offloads it.
        r = sh(f"tshark -r {self.pcap} -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
               f"-o tcp.check_checksum:FALSE {no_payload_guessing()} "
               f"-Y '{flt}'", check=False)
        if r.returncode != 0:
            raise RuntimeError("tshark failed: " + r.stderr)
        return ([l for l in r.stdout.splitlines() if l.strip()]
                + bad_tcp_checksums(self.pcap, self.engine_mac))

    def kernel_tcp_counters(self):
        """The Linux side's TCP counters (/proc/net/snmp of the lab's
        namespace, which this process has entered)."""
        lines = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
        return dict(zip(lines[0][1:], map(int, lines[1][1:])))

    def engine_packets_in_capture(self):
        r = sh(f"tshark -r {self.pcap} -Y 'eth.src == {self.engine_mac}'", check=False)
        return len([l for l in r.stdout.splitlines() if l.strip()])


def _ones_complement_fold(v):
    while v >> 16:
        v = (v & 0xffff) + (v >> 16)
    return v


def bad_tcp_checksums(pcap, mac):
    """The TCP segments from `mac` whose checksum is neither correct nor the
    partial form a port with checksum offload carries (TAP with the
    virtio-net header, the shm port): the folded pseudo-header sum, which the
    device (here the kernel) completes. Captured on the kernel's side of a TAP
    device, such a frame shows the field as the engine wrote it. Returns a
    line per bad segment."""
    r = sh(f"tshark -r {pcap} -o tcp.check_checksum:TRUE "
           f"-Y 'eth.src == {mac} && tcp.checksum.status == \"Bad\"' -T fields "
           "-e frame.number -e ip.src -e ip.dst -e ip.len -e ip.hdr_len -e tcp.checksum",
           check=False)
    if r.returncode != 0:
        raise RuntimeError("tshark failed: " + r.stderr)
    bad = []
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if len(f) < 6:
            continue
        words = [int(x) for a in f[1:3] for x in a.split(".")]
        words = [(words[i] << 8) | words[i + 1] for i in range(0, 8, 2)]
        partial = _ones_complement_fold(sum(words) + 6 + int(f[3]) - int(f[4]))
        if int(f[5], 16) != partial:
            bad.append(f"frame {f[0]}: TCP checksum {f[5]}, neither correct nor the "
                       f"partial pseudo-header sum {partial:#06x}")
    return bad


_no_guessing = None


def no_payload_guessing():
    """tshark options that turn off the protocols it guesses from TCP and UDP
    payloads (heuristic dissectors: Thrift, RTP, ...): the tests' payloads are
    random bytes, and a guess that fails is flagged as malformed, which says
    nothing about our headers. HTTP stays (the HTTP service's replies)."""
    global _no_guessing
    if _no_guessing is None:
        r = sh("tshark -G heuristic-decodes", check=False)
        names = set()
        for line in r.stdout.splitlines():
            f = line.split("\t")
            if len(f) == 3 and f[0] in ("tcp", "udp") and f[2] == "T" and f[1] != "http":
                names.add(f[1])
        _no_guessing = " ".join(f"--disable-protocol {n}" for n in sorted(names))
    return _no_guessing


def echo_on(s, data, timeout=60):
    """Sends `data` on the connected socket `s` from this thread while another
    reads; returns what came back (all of it, or what did by `timeout`)."""
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
    s.sendall(data)
    t.join(timeout)
    return bytes(got)


def tcp_echo(addr, data, timeout=60):
    """One connection to a TCP echo server at `addr`: `data` there and back."""
    s = socket.create_connection(addr, timeout=30)
    try:
        return echo_on(s, data, timeout)
    finally:
        s.close()


def binary_from_argv():
    if len(sys.argv) < 2:
        print("usage: test.py PATH/TO/shardnet", file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


class Checks:
    """Collects named checks, prints each, and exits non-zero if any failed."""

    def __init__(self):
        self.failed = 0
        self.total = 0

    def check(self, ok, what):
        self.total += 1
        if not ok:
            self.failed += 1
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return ok

    def finish(self):
        print(f"{self.total - self.failed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)
