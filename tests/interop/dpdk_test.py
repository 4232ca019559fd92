"""Interop: the engine on DPDK's net_tap (DPDK makes the TAP; two shards, two
queues), Linux on the TAP's kernel side: the checks of fast_port_checks, the
port's counters in stats, and an idle engine that sleeps (net_tap's receive
interrupts wake it). Skipped (exit 77) when this shardnet was built without
DPDK, or without root."""
import os
import subprocess
import sys
import time

import fast_port_checks
import lab


def built_with_dpdk(binary):
    """Asks the engine to open a DPDK device no driver has: an engine without
    DPDK says so; one with DPDK fails to create the device instead."""
    r = subprocess.run([binary, "run", "--iface", "dpdk:sn_no_such_device0", "--ip",
                        "10.214.9.2/24", "--name", "sn-dpdk-probe", "--control",
                        "/tmp/shardnet-sn-dpdk-probe.sock"],
                       capture_output=True, text=True, timeout=60)
    return "built without DPDK" not in r.stdout + r.stderr


def cpu_seconds(pid):
    """User and system time of every thread of `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dpdk_checks(L, c):
    ifaces = [i for s in L.stats()["shards"] for i in s["ifaces"]]
    c.check(len(ifaces) == 2 and all("dpdk_tx_refused" in i and "dpdk_imissed" in i for i in ifaces),
            "stats: each shard's DPDK queue shows the port's device counters")
    refused = sum(i.get("dpdk_tx_refused", 0) + i.get("dpdk_mbuf_alloc_failed", 0) for i in ifaces)
    c.check(refused == 0, f"no frame refused by the device or short of an mbuf ({refused})")
    time.sleep(1)  # the last connections close, the shards go idle
    before = cpu_seconds(L.engine.pid)
    time.sleep(2)
    used = (cpu_seconds(L.engine.pid) - before) / 2
    c.check(used < 0.2, f"an idle engine sleeps: {used * 100:.1f}% of a core over 2 s")


if not built_with_dpdk(lab.binary_from_argv()):
    print("SKIPPED: this shardnet was built without DPDK (configure with -DSN_DPDK=ON and "
          "Debian's dpdk-dev); the dpdk: port is not tested", file=sys.stderr)
    sys.exit(lab.SKIP)
fast_port_checks.run("dpdk", "dpd", extra_checks=dpdk_checks)
