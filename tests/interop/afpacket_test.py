"""Interop: the engine on an AF_PACKET port (one end of a veth pair, two
queues, two shards: a fanout group), Linux on the other end: the checks of
fast_port_checks. Linux's TCP sends through veth with TSO, so the port sees
segments of up to 64 KiB and must cut them at the MTU for the engine."""
import fast_port_checks

fast_port_checks.run("afpacket", "afp")
