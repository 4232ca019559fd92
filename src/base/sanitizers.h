// Whether this build runs under ThreadSanitizer (gcc and clang spell it
// differently): tests shrink their thread stress there, and the allocation
// counter stands aside (TSan owns operator new).
#pragma once

#if defined(__SANITIZE_THREAD__)
#define SN_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SN_UNDER_TSAN 1
#endif
#endif
#ifndef SN_UNDER_TSAN
#define SN_UNDER_TSAN 0
#endif

namespace sn {
inline constexpr bool kUnderTsan = SN_UNDER_TSAN;
}  // namespace sn
