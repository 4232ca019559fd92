"""Interop: the engine on an AF_XDP port (one end of a veth pair, two queues,
two shards; copy mode, as veth has no zero-copy), Linux on the other end:
the checks of fast_port_checks, and the XDP program leaves the kernel's own
traffic on that interface alone: IPv6 (not the engine's) still reaches the
kernel, which answers a ping to the interface's link-local address."""
import fast_port_checks
import lab


def xdp_checks(L, c):
    r = lab.sh(f"ip link show dev {L.dev}")
    c.check("xdp" in r.stdout, "an XDP program is attached to the engine's interface")
    r = lab.sh(f"ip -6 -o addr show dev {L.dev} scope link", check=False)
    ll = r.stdout.split()[3].split("/")[0] if r.stdout.strip() else ""
    r = lab.sh(f"ping -6 -n -c 3 -i 0.2 -W 2 {ll}%{L.tap}", check=False) if ll else None
    c.check(r is not None and " 0% packet loss" in r.stdout,
            f"the kernel still answers IPv6 on the interface ({ll or 'no link-local address'})")


fast_port_checks.run("afxdp", "xdp", extra_checks=xdp_checks)
