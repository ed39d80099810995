// Interposes the glibc allocation entry points (the executable's definitions win over
// libc's for every shared library too) and forwards to glibc's own __libc_* functions.
// free() is not interposed: the memory still comes from and goes back to glibc's malloc.
#include "alloc_guard.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include <atomic>

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
}

namespace {

std::atomic<size_t> g_limit{0};  // 0: disarmed
std::atomic<size_t> g_refused{0};
std::atomic<bool> g_seen{false};  // some allocation went through the interposer

}  // namespace

// Under AddressSanitizer the sanitizer owns malloc: no interposition (the guard reports
// itself inactive; use ASan's own allocation_size_too_big / -malloc_limit_mb instead).
#ifndef VISCPM_FUZZ_NO_INTERPOSE
namespace {

bool refuse(size_t size) {
  g_seen.store(true, std::memory_order_relaxed);
  size_t limit = g_limit.load(std::memory_order_relaxed);
  if (limit == 0 || size <= limit) return false;
  size_t previous = g_refused.load(std::memory_order_relaxed);
  while (size > previous && !g_refused.compare_exchange_weak(previous, size, std::memory_order_relaxed)) {
  }
  return true;
}

}  // namespace

#define VISCPM_INTERPOSE extern "C" __attribute__((visibility("default")))

VISCPM_INTERPOSE void* malloc(size_t size) {
  if (refuse(size)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_malloc(size);
}

VISCPM_INTERPOSE void* calloc(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) total = SIZE_MAX;
  if (refuse(total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_calloc(count, size);
}

VISCPM_INTERPOSE void* realloc(void* p, size_t size) {
  if (refuse(size)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_realloc(p, size);
}

VISCPM_INTERPOSE int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment % sizeof(void*) != 0) return EINVAL;
  if (refuse(size)) return ENOMEM;
  void* p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

VISCPM_INTERPOSE void* aligned_alloc(size_t alignment, size_t size) {
  if (refuse(size)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_memalign(alignment, size);
}

VISCPM_INTERPOSE void* memalign(size_t alignment, size_t size) {
  if (refuse(size)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_memalign(alignment, size);
}

#endif  // VISCPM_FUZZ_NO_INTERPOSE

namespace viscpm::fuzz {

void alloc_guard_arm(size_t limit_bytes) {
  g_refused.store(0, std::memory_order_relaxed);
  g_limit.store(limit_bytes, std::memory_order_relaxed);
}
void alloc_guard_disarm() { g_limit.store(0, std::memory_order_relaxed); }
size_t alloc_guard_refused() { return g_refused.load(std::memory_order_relaxed); }
bool alloc_guard_active() {
  g_seen.store(false);
  // operator new lives in libstdc++.so: its malloc call reaches us only if interposed.
  char* volatile p = new char[24];
  delete[] p;
  return g_seen.load();
}

}  // namespace viscpm::fuzz
