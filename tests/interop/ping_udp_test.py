"""Interop: Linux pings the engine over TAP (56 and 4000 bytes, 5 of 5 each),
sends 200 UDP datagrams of random sizes 1..8000 to the udp-echo service and
gets every one back byte-exact; tshark finds nothing malformed and no bad
checksum in what the engine sent; SIGTERM stops the engine cleanly."""
import random
import time

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

with lab.Lab(binary, services=["udp-echo:7"], tag="pu") as L:
    got, line = L.ping(56)
    c.check(got == 5, f"ping -s 56: 5 of 5 ({line})")
    got, line = L.ping(4000)
    c.check(got == 5, f"ping -s 4000 (fragmented both ways): 5 of 5 ({line})")

    rng = random.Random(3)
    s = L.udp_socket()
    s.connect((L.engine_ip, 7))
    exact = 0
    for i in range(200):
        data = rng.randbytes(rng.randint(1, 8000))
        s.send(data)
        try:
            back = s.recv(65536)
        except TimeoutError:
            back = None
        exact += back == data
    c.check(exact == 200, f"UDP echo: {exact} of 200 datagrams (1..8000 bytes) byte-exact")

    # A closed port answers with ICMP port unreachable: Linux reports it as
    # ECONNREFUSED on the connected socket.
    closed = L.udp_socket()
    closed.connect((L.engine_ip, 9999))
    closed.send(b"anyone?")
    try:
        closed.recv(100)
        refused = False
    except ConnectionRefusedError:
        refused = True
    except TimeoutError:
        refused = False
    c.check(refused, "UDP to a closed port: ICMP port unreachable (ECONNREFUSED)")

    k = L.counters()
    c.check(k["icmp_echo_replies"] == 10, f"counters: 10 echo replies ({k['icmp_echo_replies']})")
    c.check(k["udp_rx_datagrams"] == 200, f"counters: 200 UDP datagrams in ({k['udp_rx_datagrams']})")
    c.check(k["ip_reassembled"] >= 5 + 150, f"counters: reassembled datagrams ({k['ip_reassembled']})")
    c.check(k["drop_udp_no_port"] == 1, f"counters: one datagram to a closed port ({k['drop_udp_no_port']})")

    # Idle, the engine sleeps until input or its next timer: no CPU.
    def cpu_ticks():
        with open(f"/proc/{L.engine.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    before = cpu_ticks()
    time.sleep(2)
    idle = cpu_ticks() - before
    c.check(idle <= 2, f"idle engine: {idle} CPU ticks in 2 s")

    code, out = L.stop_engine()
    c.check(code == 0 and "stopped" in out, f"SIGTERM: clean exit (code {code})")

    bad = L.malformed_in_capture()
    sent = L.engine_packets_in_capture()
    c.check(sent > 400, f"tshark saw the engine's packets ({sent})")
    c.check(not bad, "tshark: no malformed packets, bad checksums or expert warnings from the engine"
            + ("".join("\n     " + b for b in bad[:10])))

c.finish()
