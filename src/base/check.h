// Invariant checks that say where they failed. SN_CHECK stays in release builds:
// it guards invariants whose violation would corrupt memory.
#pragma once

#include <cstdio>
#include <cstdlib>

#define SN_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) [[unlikely]] {                                                     \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
