// Counters as text: shared by `shardnet stats` and the demo.
#pragma once

#include <string>

#include "stack/counters.h"

namespace sn {

// One "name value" line per counter, indented; drop reasons that are zero are
// left out (they are noise in the text view; JSON shows them all).
std::string counters_text(const StackCounters& c, int indent);

}  // namespace sn
