// For a test binary that checks a path makes no allocations: replaces the
// global operator new and delete (every form) with versions that forward to
// malloc and free and count only while an `Armed` is in scope, so the other
// tests of the binary are unaffected. The first counted allocation's call
// stack is kept (without allocating) for print_first_allocation().
//
// Include it from exactly one file of a test binary: it defines the
// replacement operators.
#pragma once

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "base/sanitizers.h"

// ThreadSanitizer brings its own operator new and delete, which cannot be
// replaced: there the counting is off and the tests that need it skip.
#define SN_ALLOC_COUNTING (!SN_UNDER_TSAN)
inline constexpr bool kAllocCounting = SN_ALLOC_COUNTING;

namespace {

std::atomic<bool> g_armed{false};
std::atomic<uint64_t> g_allocs{0};
void* g_first_stack[32];
int g_first_depth = 0;

void note_alloc() {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  if (g_allocs.fetch_add(1, std::memory_order_relaxed) == 0) {
    g_armed.store(false, std::memory_order_relaxed);  // backtrace() must not count itself
    g_first_depth = backtrace(g_first_stack, 32);
    g_armed.store(true, std::memory_order_relaxed);
  }
}

[[maybe_unused]] void* alloc_or_null(size_t n, size_t align) {
  note_alloc();
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}

[[maybe_unused]] void* alloc_or_throw(size_t n, size_t align) {
  void* p = alloc_or_null(n, align);
  if (!p) throw std::bad_alloc();
  return p;
}

// Counts allocations while in scope.
class Armed {
 public:
  Armed() {
    g_allocs.store(0);
    g_first_depth = 0;
    g_armed.store(true);
  }
  ~Armed() { g_armed.store(false); }
  uint64_t count() const { return g_allocs.load(); }
};

}  // namespace

#if SN_ALLOC_COUNTING
void* operator new(size_t n) {
  return alloc_or_throw(n, 0);
}
void* operator new[](size_t n) {
  return alloc_or_throw(n, 0);
}
void* operator new(size_t n, std::align_val_t a) {
  return alloc_or_throw(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a) {
  return alloc_or_throw(n, static_cast<size_t>(a));
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, 0);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, 0);
}
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

#endif  // SN_ALLOC_COUNTING

// The first allocation counted since the last Armed began, as a raw
// backtrace on stderr (symbolize with addr2line), if there was one.
inline void print_first_allocation() {
  if (g_first_depth > 0) backtrace_symbols_fd(g_first_stack, g_first_depth, STDERR_FILENO);
}

// The allocations `body` makes.
template <typename F>
uint64_t count_allocations(F body) {
  Armed armed;
  body();
  return armed.count();
}

// The same, where there should be none: where the first came from goes to stderr.
template <typename F>
uint64_t allocations_in(const char* what, F body) {
  const uint64_t n = count_allocations(body);
  if (n > 0) {
    std::fprintf(stderr, "%s: the first of %llu allocations came from:\n", what,
                 static_cast<unsigned long long>(n));
    print_first_allocation();
  }
  return n;
}
