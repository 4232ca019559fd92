"""Hand-built Ethernet/ARP/IPv4/ICMP/UDP/TCP frames for interop tests, good and bad."""
import socket
import struct


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def ip4(s):
    return socket.inet_aton(s)


def eth(dst, src, ethertype, payload):
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ident=1, flags_frag=0, ttl=64, options=b"", total=None,
         version=4, ihl=None, bad_checksum=False):
    ihl = ihl if ihl is not None else 5 + len(options) // 4
    total = total if total is not None else 20 + len(options) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total, ident, flags_frag, ttl, proto,
                    0, ip4(src), ip4(dst)) + options
    c = csum(h)
    if bad_checksum:
        c ^= 0x5A5A
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def udp(src_ip, dst_ip, sport, dport, payload, length=None, bad_checksum=False):
    length = length if length is not None else 8 + len(payload)
    h = struct.pack("!HHHH", sport, dport, length, 0)
    pseudo = ip4(src_ip) + ip4(dst_ip) + struct.pack("!BBH", 0, 17, length)
    c = csum(pseudo + h + payload) or 0xFFFF
    if bad_checksum:
        c ^= 0x1111
    return h[:6] + struct.pack("!H", c) + payload


def icmp_echo(ident, seq, payload, bad_checksum=False):
    h = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    c = csum(h + payload)
    if bad_checksum:
        c ^= 0x0F0F
    return h[:2] + struct.pack("!H", c) + h[4:] + payload


def arp(op, sha, spa, tha, tpa, htype=1, ptype=0x0800, hlen=6, plen=4):
    return struct.pack("!HHBBH", htype, ptype, hlen, plen, op) + mac(sha) + ip4(spa) + mac(tha) + ip4(tpa)


class Injector:
    """Writes raw frames onto an interface (the Linux side of the TAP)."""

    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.s.bind((ifname, 0))
        self.src = self.s.getsockname()[4].hex(":")

    def send(self, frame):
        self.s.send(frame)


TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp_syn_options(mss=1460, tsval=1, tsecr=0, wscale=7):
    """The options of a Linux SYN: MSS, SACK-permitted, timestamps, NOP, window scale."""
    return (struct.pack("!BBH", 2, 4, mss) + b"\x04\x02" +
            struct.pack("!BBII", 8, 10, tsval, tsecr) + b"\x01" + struct.pack("!BBB", 3, 3, wscale))


def tcp_ts_option(tsval, tsecr):
    """NOP NOP timestamps, as Linux puts them on every segment after the SYN."""
    return b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, tsecr)


def tcp(src_ip, dst_ip, sport, dport, seq, ack, flags, payload=b"", window=65535, options=b"",
        data_offset=None, bad_checksum=False):
    """A TCP segment. `data_offset` (in 32-bit words) may lie about the header length."""
    if len(options) % 4:
        options += b"\0" * (4 - len(options) % 4)
    off = data_offset if data_offset is not None else 5 + len(options) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags,
                    window, 0, 0) + options
    pseudo = ip4(src_ip) + ip4(dst_ip) + struct.pack("!BBH", 0, 6, len(h) + len(payload))
    c = csum(pseudo + h + payload)
    if bad_checksum:
        c ^= 0x2222
    return h[:16] + struct.pack("!H", c) + h[18:] + payload
