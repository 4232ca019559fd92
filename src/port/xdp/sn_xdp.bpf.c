// The XDP program of the AF_XDP port: frames for the engine go to the XDP
// socket of the queue they arrived on; everything else (other addresses,
// IPv6, LLDP, VLAN-tagged frames) passes to the kernel untouched.
//
// "For the engine": an IPv4 datagram whose destination is the engine's
// address, or an ARP packet whose target is, as the user space sets it in
// sn_addr (key 0; 0 until set, which passes everything). Built by clang for
// the BPF target and embedded in the engine (see afxdp_prog.cc).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u32);
} sn_xsks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);  // the engine's IPv4 address, network order
} sn_addr SEC(".maps");

SEC("xdp")
int sn_xdp(struct xdp_md* ctx) {
  const unsigned char* data = (const unsigned char*)(long)ctx->data;
  const unsigned char* end = (const unsigned char*)(long)ctx->data_end;
  if (data + 14 > end) return XDP_PASS;
  const __u16 type = (__u16)(data[12] << 8 | data[13]);
  __u32 dst;
  if (type == ETH_P_IP) {
    if (data + 14 + 20 > end) return XDP_PASS;
    __builtin_memcpy(&dst, data + 14 + 16, 4);  // RFC 791: destination address
  } else if (type == ETH_P_ARP) {
    if (data + 14 + 28 > end) return XDP_PASS;
    __builtin_memcpy(&dst, data + 14 + 24, 4);  // RFC 826: target protocol address
  } else {
    return XDP_PASS;
  }
  __u32 key = 0;
  const __u32* ours = bpf_map_lookup_elem(&sn_addr, &key);
  if (!ours || *ours == 0 || *ours != dst) return XDP_PASS;
  return bpf_redirect_map(&sn_xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
