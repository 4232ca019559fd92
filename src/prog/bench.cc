// `shardnet bench`: runs bench/shardnet_bench.py, which sets up the
// namespaces, starts each server and the load generator, and prints the
// table. This side only finds the script and the programs it drives: beside
// this executable once installed, else where the build put them.
#include "prog/bench.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace sn {
namespace {

namespace fs = std::filesystem;

// `name` beside this executable (installed: bin/, or share/shardnet for the
// script), else the build's path.
std::string locate(const fs::path& self_dir, const char* name, const char* built) {
  for (const fs::path& p : {self_dir / name, self_dir / ".." / "share" / "shardnet" / name})
    if (fs::exists(p)) return p.string();
  return built;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path dir = ec ? fs::path(".") : self.parent_path();
  // Debian's Python first: the one scripts/setup installs matplotlib for.
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::vector<std::string> argv = {
      python,
      locate(dir, "shardnet_bench.py", SN_BENCH_SCRIPT),
      "--shardnet",
      ec ? std::string("shardnet") : self.string(),
      "--loadgen",
      locate(dir, "sn-loadgen", SN_LOADGEN),
      "--linux-server",
      locate(dir, "sn-linux-server", SN_LINUX_SERVER),
      "--echo-server",
      locate(dir, "sn-echo-server", SN_ECHO_SERVER),
      "--stack-loadgen",
      locate(dir, "sn-stack-loadgen", SN_STACK_LOADGEN),
  };
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c;
  for (std::string& a : argv)
    c.push_back(a.data());
  c.push_back(nullptr);
  ::execvp(python.c_str(), c.data());
  std::fprintf(stderr, "shardnet bench: cannot run python3: %s\n", std::strerror(errno));
  return 1;
}

}  // namespace sn
