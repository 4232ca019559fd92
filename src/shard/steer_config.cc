// Parsing, checking and printing of --steer; see steer_config.h.
#include "shard/steer_config.h"

#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

namespace sn {
namespace {

Error invalid(const char* message) {
  return Error{Errc::kInvalidArgument, message};
}

constexpr const char* kFieldNames[kSteerFieldCount] = {"src-ip", "dst-ip",   "proto",
                                                       "ip-id",  "src-port", "dst-port"};
constexpr const char* kClassNames[kTrafficClassCount] = {"tcp", "udp", "frag", "other"};

bool is_port(SteerField f) {
  return f == SteerField::kSrcPort || f == SteerField::kDstPort;
}

std::optional<SteerField> field_named(std::string_view s) {
  for (size_t i = 0; i < kSteerFieldCount; ++i)
    if (s == kFieldNames[i]) return static_cast<SteerField>(i);
  return std::nullopt;
}

std::optional<TrafficClass> class_named(std::string_view s) {
  for (size_t i = 0; i < kTrafficClassCount; ++i)
    if (s == kClassNames[i]) return static_cast<TrafficClass>(i);
  return std::nullopt;
}

template <typename T>
std::optional<T> parse_uint(std::string_view s, int base) {
  T v{};
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v, base);
  if (s.empty() || ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::optional<uint8_t> hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
  return std::nullopt;
}

// The mask that keeps the top `len` bits of a field `bits` wide.
uint32_t prefix_mask(size_t bits, size_t len) {
  if (len == 0) return 0;
  const uint64_t full = (uint64_t{1} << bits) - 1;
  return static_cast<uint32_t>(full & ~((uint64_t{1} << (bits - len)) - 1));
}

// The LEN for which prefix_mask(bits, LEN) == mask, if there is one.
std::optional<size_t> prefix_length(size_t bits, uint32_t mask) {
  for (size_t len = 0; len <= bits; ++len)
    if (prefix_mask(bits, len) == mask) return len;
  return std::nullopt;
}

// FIELD, FIELD/LEN or FIELD:HEX.
Result<Select> parse_select(std::string_view term) {
  const size_t cut = term.find_first_of("/:");
  auto field = field_named(term.substr(0, cut));
  if (!field) {
    return invalid(
        "--steer: unknown field (the fields: src-ip, dst-ip, proto, ip-id, src-port, dst-port, "
        "joined by '+')");
  }
  const uint32_t full = steer_field_full_mask(*field);
  if (cut == std::string_view::npos) return Select{*field, full};
  const std::string_view arg = term.substr(cut + 1);
  const size_t bits = steer_field_width(*field) * 8;
  if (term[cut] == '/') {
    auto len = parse_uint<uint32_t>(arg, 10);
    if (!len || *len > bits) {
      return invalid(
          "--steer: FIELD/LEN keeps the top LEN bits: LEN is 0..32 for an address, 0..16 for a "
          "port or ip-id, 0..8 for proto");
    }
    return Select{*field, prefix_mask(bits, *len)};
  }
  std::string_view hex = arg;
  if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
  auto mask = hex.size() <= 8 ? parse_uint<uint32_t>(hex, 16) : std::nullopt;
  if (!mask || (*mask & ~full) != 0) {
    return invalid(
        "--steer: FIELD:HEX masks the field: HEX is at most ffffffff for an address, ffff for a "
        "port or ip-id, ff for proto");
  }
  return Select{*field, *mask};
}

Result<SteerConfig::SelectList> parse_selects(std::string_view value) {
  SteerConfig::SelectList out;
  if (value == "none") return out;
  while (true) {
    const size_t plus = value.find('+');
    auto sel = parse_select(value.substr(0, plus));
    if (!sel) return sel.error();
    out.push_back(*sel);
    if (plus == std::string_view::npos) break;
    value.remove_prefix(plus + 1);
  }
  return out;
}

Result<ToeplitzKey> parse_key(std::string_view value) {
  ToeplitzKey key{};
  size_t digits = 0;
  for (char c : value) {
    if (c == ':') continue;
    auto d = hex_digit(c);
    if (!d || digits >= key.size() * 2) {
      digits = 0;
      break;
    }
    key[digits / 2] = static_cast<uint8_t>(key[digits / 2] << 4 | *d);
    ++digits;
  }
  if (digits != key.size() * 2)
    return invalid("--steer: key must be 40 bytes in hex: 80 digits, ':' between bytes allowed");
  return key;
}

// The rules of steer_config.h for one list.
Result<void> check_selects(TrafficClass c, const SteerConfig::SelectList& list) {
  bool seen[kSteerFieldCount] = {};
  for (const Select& s : list) {
    const auto i = static_cast<size_t>(s.field);
    if (i >= kSteerFieldCount) return invalid("--steer: a select names no known field");
    if (seen[i]) return invalid("--steer: a field appears twice in one list");
    seen[i] = true;
    if ((s.mask & ~steer_field_full_mask(s.field)) != 0)
      return invalid("--steer: a mask has bits above its field's width");
    if (s.field == SteerField::kIpId && c != TrafficClass::kFragment) {
      return invalid(
          "--steer: only frag may select ip-id: it changes packet to packet, so a flow would have "
          "no one owner");
    }
    if (is_port(s.field) && c == TrafficClass::kFragment) {
      return invalid(
          "--steer: frag may not select ports: only the first fragment carries them, and all "
          "fragments of a datagram must meet on one shard");
    }
    if (is_port(s.field) && c == TrafficClass::kOtherIp)
      return invalid("--steer: other may not select ports: ICMP and the rest have none");
  }
  return ok();
}

void append_hex(std::string& out, uint32_t v, size_t digits) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%0*x", static_cast<int>(digits), v);
  out += buf;
}

}  // namespace

const char* to_string(SteerField f) {
  const auto i = static_cast<size_t>(f);
  return i < kSteerFieldCount ? kFieldNames[i] : "?";
}

const char* to_string(TrafficClass c) {
  const auto i = static_cast<size_t>(c);
  return i < kTrafficClassCount ? kClassNames[i] : "?";
}

std::array<SteerConfig::SelectList, kTrafficClassCount> SteerConfig::default_selects() {
  auto all = [](SteerField f) { return Select{f, steer_field_full_mask(f)}; };
  const SelectList four_tuple = {all(SteerField::kSrcIp), all(SteerField::kDstIp),
                                 all(SteerField::kSrcPort), all(SteerField::kDstPort)};
  return {
      four_tuple,  // tcp
      four_tuple,  // udp
      SelectList{all(SteerField::kSrcIp), all(SteerField::kDstIp), all(SteerField::kProtocol),
                 all(SteerField::kIpId)},                            // frag
      SelectList{all(SteerField::kSrcIp), all(SteerField::kDstIp)},  // other
  };
}

Result<SteerConfig> SteerConfig::parse(std::string_view spec) {
  SteerConfig c;
  if (spec.empty()) return c;
  bool in_table = false;  // bare numbers continue table=
  while (true) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    const size_t eq = item.find('=');
    if (item.empty()) return invalid("--steer: an empty item (two commas in a row?)");
    if (eq == std::string_view::npos) {
      if (!in_table) {
        return invalid(
            "--steer: each item is KEY=VALUE (keys: hash, key, tcp, udp, frag, other, table)");
      }
      auto n = parse_uint<uint32_t>(item, 10);
      if (!n) return invalid("--steer: a table entry must be a shard number, like table=0,1,1,0");
      if (c.table.size() >= kMaxTableSize)
        return invalid("--steer: the table has at most 4096 entries");
      c.table.push_back(*n);
    } else {
      const std::string_view key = item.substr(0, eq);
      const std::string_view value = item.substr(eq + 1);
      in_table = false;
      if (key == "hash") {
        if (value == "toeplitz") {
          c.hash = SteerHash::kToeplitz;
        } else if (value == "xor") {
          c.hash = SteerHash::kXorFold;
        } else {
          return invalid("--steer: hash must be toeplitz or xor");
        }
      } else if (key == "key") {
        auto k = parse_key(value);
        if (!k) return k.error();
        c.key = *k;
      } else if (key == "table") {
        auto n = parse_uint<uint32_t>(value, 10);
        if (!n) return invalid("--steer: a table entry must be a shard number, like table=0,1,1,0");
        c.table.assign(1, *n);
        in_table = true;
      } else if (auto cls = class_named(key)) {
        auto list = parse_selects(value);
        if (!list) return list.error();
        if (auto r = check_selects(*cls, *list); !r) return r.error();
        c.selects_for(*cls) = std::move(*list);
      } else {
        return invalid("--steer: unknown key (keys: hash, key, tcp, udp, frag, other, table)");
      }
    }
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  return c;
}

Result<void> SteerConfig::validate(uint32_t shards) const {
  if (shards == 0) return invalid("--steer: the engine needs at least one shard");
  if (hash != SteerHash::kXorFold && hash != SteerHash::kToeplitz)
    return invalid("--steer: hash must be toeplitz or xor");
  for (size_t i = 0; i < kTrafficClassCount; ++i) {
    if (auto r = check_selects(static_cast<TrafficClass>(i), selects[i]); !r) return r;
  }
  if (table.size() > kMaxTableSize) return invalid("--steer: the table has at most 4096 entries");
  for (uint32_t s : table) {
    if (s >= shards)
      return invalid("--steer: a table entry names a shard the engine does not have (--shards)");
  }
  return ok();
}

std::string SteerConfig::describe() const {
  std::string out = hash == SteerHash::kToeplitz ? "hash=toeplitz" : "hash=xor";
  for (size_t i = 0; i < kTrafficClassCount; ++i) {
    out += ',';
    out += kClassNames[i];
    out += '=';
    if (selects[i].empty()) out += "none";
    for (size_t j = 0; j < selects[i].size(); ++j) {
      const Select& s = selects[i][j];
      if (j > 0) out += '+';
      out += to_string(s.field);
      const size_t bits = steer_field_width(s.field) * 8;
      if (s.mask == steer_field_full_mask(s.field)) continue;
      if (auto len = prefix_length(bits, s.mask)) {
        out += '/';
        out += std::to_string(*len);
      } else {
        out += ':';
        append_hex(out, s.mask, bits / 4);
      }
    }
  }
  if (key != kRssDefaultKey) {
    out += ",key=";
    for (uint8_t b : key)
      append_hex(out, b, 2);
  }
  for (size_t i = 0; i < table.size(); ++i) {
    out += i == 0 ? ",table=" : ",";
    out += std::to_string(table[i]);
  }
  return out;
}

}  // namespace sn
