// `shardnet bench`: shardnet against Linux, same machine, same run.
#pragma once

#include <string>
#include <vector>

namespace sn {

// Runs the benchmark with `args` (--quick, --json FILE, --plot FILE.png,
// --only WORKLOAD...); returns only on failure to start it.
int run_bench(const std::vector<std::string>& args);

}  // namespace sn
