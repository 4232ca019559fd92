// Parsing of the --iface argument; see iface_spec.h.
#include "port/iface_spec.h"

#include <charconv>
#include <iterator>

namespace sn {
namespace {

constexpr uint32_t kMaxQueues = 256;  // the kernel's MAX_TAP_QUEUES
constexpr uint32_t kMinMtu = 68;      // RFC 791: every IPv4 module takes 68 bytes
constexpr uint32_t kMaxMtu = 65521;   // Linux TAP: 65535 less the Ethernet header
constexpr size_t kMaxTapName = 15;    // IFNAMSIZ less the terminating NUL
constexpr size_t kMaxDpdkName = 63;   // DPDK's RTE_DEV_NAME_MAX_LEN less the NUL

Error invalid(const char* message) {
  return Error{Errc::kInvalidArgument, message};
}

template <typename T>
std::optional<T> parse_uint(std::string_view s) {
  T v{};
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v, 10);
  if (s.empty() || ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::optional<double> parse_probability(std::string_view s) {
  double v = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  // !(in range) also refuses NaN.
  if (s.empty() || ec != std::errc() || p != end || !(v >= 0 && v <= 1)) return std::nullopt;
  return v;
}

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

enum class Opt {
  kQueues,
  kMac,
  kMtu,
  kLoss,
  kDup,
  kReorder,
  kCorrupt,
  kDelay,
  kReorderDelay,
  kSeed,
  kPcap,
  kBind,
  kOffload,
  kDevargs
};

struct OptInfo {
  const char* key;
  Opt opt;
  const char* bad_value;  // the message when the value does not parse
};

constexpr OptInfo kOptions[] = {
    {"queues", Opt::kQueues, "--iface: queues must be a whole number from 1 to 256"},
    {"mac", Opt::kMac,
     "--iface: mac must be a unicast address of six hex octets, like 02:00:00:00:00:01"},
    {"mtu", Opt::kMtu, "--iface: mtu must be a whole number from 68 to 65521"},
    {"loss", Opt::kLoss, "--iface: loss must be a probability from 0 to 1"},
    {"dup", Opt::kDup, "--iface: dup must be a probability from 0 to 1"},
    {"reorder", Opt::kReorder, "--iface: reorder must be a probability from 0 to 1"},
    {"corrupt", Opt::kCorrupt, "--iface: corrupt must be a probability from 0 to 1"},
    {"delay", Opt::kDelay, "--iface: delay must be a duration like 5ms (units: ns, us, ms, s)"},
    {"reorder_delay", Opt::kReorderDelay,
     "--iface: reorder_delay must be a duration like 2ms (units: ns, us, ms, s)"},
    {"seed", Opt::kSeed, "--iface: seed must be a whole number below 2^64"},
    {"pcap", Opt::kPcap, "--iface: pcap needs a file path (pcap=PATH)"},
    {"bind", Opt::kBind, "--iface: bind must be auto, copy or zerocopy (AF_XDP only)"},
    {"offload", Opt::kOffload, "--iface: offload must be 0 or 1 (TAP only)"},
    {"devargs", Opt::kDevargs,
     "--iface: devargs needs KEY=VALUE[;KEY=VALUE...], with ';' for DPDK's ',' (DPDK only)"},
};

const OptInfo* find_option(std::string_view key) {
  for (const OptInfo& o : kOptions)
    if (key == o.key) return &o;
  return nullptr;
}

// Applies one option's value; false when the value is bad.
bool apply(IfaceSpec& spec, Opt opt, std::string_view v) {
  switch (opt) {
    case Opt::kQueues: {
      auto n = parse_uint<uint32_t>(v);
      if (!n || *n < 1 || *n > kMaxQueues) return false;
      spec.queues = *n;
      return true;
    }
    case Opt::kMac: {
      auto m = MacAddress::parse(v);
      if (!m || m->is_multicast() || m->is_zero()) return false;
      spec.mac = *m;
      return true;
    }
    case Opt::kMtu: {
      auto n = parse_uint<uint32_t>(v);
      if (!n || *n < kMinMtu || *n > kMaxMtu) return false;
      spec.mtu = *n;
      return true;
    }
    case Opt::kLoss:
    case Opt::kDup:
    case Opt::kReorder:
    case Opt::kCorrupt: {
      auto p = parse_probability(v);
      if (!p) return false;
      double& field = opt == Opt::kLoss      ? spec.fault.loss
                      : opt == Opt::kDup     ? spec.fault.duplicate
                      : opt == Opt::kReorder ? spec.fault.reorder
                                             : spec.fault.corrupt;
      field = *p;
      return true;
    }
    case Opt::kDelay:
    case Opt::kReorderDelay: {
      auto d = parse_duration(v);
      if (!d) return false;
      (opt == Opt::kDelay ? spec.fault.delay : spec.fault.reorder_delay) = *d;
      return true;
    }
    case Opt::kSeed: {
      auto s = parse_uint<uint64_t>(v);
      if (!s) return false;
      spec.fault.seed = *s;
      return true;
    }
    case Opt::kPcap:
      if (v.empty()) return false;
      spec.pcap_path = std::string(v);
      return true;
    case Opt::kBind:
      if (spec.kind != "afxdp") return false;
      if (v == "auto")
        spec.bind = XdpBind::kAuto;
      else if (v == "copy")
        spec.bind = XdpBind::kCopy;
      else if (v == "zerocopy")
        spec.bind = XdpBind::kZeroCopy;
      else
        return false;
      return true;
    case Opt::kOffload:
      if (spec.kind != "tap" || (v != "0" && v != "1")) return false;
      spec.offload = v == "1";
      return true;
    case Opt::kDevargs:
      if (spec.kind != "dpdk" || v.empty() || v.find('=') == std::string_view::npos) return false;
      spec.devargs = std::string(v);
      for (char& c : spec.devargs)
        if (c == ';') c = ',';
      return true;
  }
  return false;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view s) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9')
    ++digits;
  auto n = parse_uint<int64_t>(s.substr(0, digits));
  if (!n) return std::nullopt;
  const std::string_view unit = s.substr(digits);
  int64_t scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1000;
  else if (unit == "ms")
    scale = 1000'000;
  else if (unit == "s")
    scale = 1000'000'000;
  else
    return std::nullopt;
  if (*n > Duration::max().ns() / scale) return std::nullopt;
  return Duration::nanos(*n * scale);
}

Result<IfaceSpec> parse_iface_spec(std::string_view s) {
  IfaceSpec spec;
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos)
    return invalid("--iface: expected KIND:NAME[,option=value...], like tap:sn0");
  spec.kind = std::string(s.substr(0, colon));
  if (spec.kind != "tap" && spec.kind != "mem" && spec.kind != "afxdp" && spec.kind != "afpacket" &&
      spec.kind != "shm" && spec.kind != "dpdk")
    return invalid(
        "--iface: unknown interface kind (expected tap:NAME, afxdp:NAME, afpacket:NAME, "
        "shm:NAME, mem:NAME or dpdk:DEVICE)");
  s.remove_prefix(colon + 1);

  const size_t comma = s.find(',');
  const std::string_view name = s.substr(0, comma);
  if (name.empty()) return invalid("--iface: missing interface name after the kind");
  if (spec.kind == "dpdk" && name.size() > kMaxDpdkName)
    return invalid("--iface: DPDK device name too long (at most 63 characters)");
  if (spec.kind != "mem" && spec.kind != "dpdk" && name.size() > kMaxTapName)
    return invalid("--iface: interface name too long (at most 15 characters)");
  for (char c : name)
    if (!valid_name_char(c))
      return invalid("--iface: interface name may hold only letters, digits, '-', '_' and '.'");
  if (name == "." || name == "..") return invalid("--iface: '.' and '..' are not interface names");
  spec.name = std::string(name);

  bool seen[std::size(kOptions)] = {};
  bool more = comma != std::string_view::npos;
  std::string_view rest = more ? s.substr(comma + 1) : std::string_view{};
  while (more) {
    const size_t next = rest.find(',');
    const std::string_view item = rest.substr(0, next);
    more = next != std::string_view::npos;
    if (more) rest.remove_prefix(next + 1);
    if (item.empty()) return invalid("--iface: empty option (a stray comma?)");
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return invalid("--iface: option without a value (write key=value)");
    const OptInfo* o = find_option(item.substr(0, eq));
    if (!o)
      return invalid(
          "--iface: unknown option (known: queues, mac, mtu, loss, dup, reorder, corrupt, delay, "
          "reorder_delay, seed, pcap, bind, offload, devargs)");
    bool& was_seen = seen[o - kOptions];
    if (was_seen) return invalid("--iface: an option is given twice");
    was_seen = true;
    if (!apply(spec, o->opt, item.substr(eq + 1))) return invalid(o->bad_value);
  }
  return spec;
}

}  // namespace sn
