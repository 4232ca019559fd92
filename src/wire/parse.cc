// Names for parse errors, for logs and test failure messages.
#include "wire/parse.h"

namespace sn {

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::kTruncated:
      return "truncated";
    case ParseError::kBadVersion:
      return "bad version";
    case ParseError::kBadHeaderLength:
      return "bad header length";
    case ParseError::kBadTotalLength:
      return "bad total length";
    case ParseError::kBadLength:
      return "bad length";
    case ParseError::kBadOption:
      return "bad option";
    case ParseError::kUnsupported:
      return "unsupported";
  }
  return "unknown parse error";
}

}  // namespace sn
