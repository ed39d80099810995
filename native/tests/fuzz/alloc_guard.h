// A per-allocation size cap for the mutation driver: while armed, any single malloc /
// calloc / realloc / posix_memalign / aligned_alloc / memalign above the limit fails
// (nullptr / ENOMEM: operator new throws std::bad_alloc, LibTorch's CPU allocator raises
// c10::Error) and is remembered. A damaged file that claims a 1e15-element tensor must be
// refused by a size check, never by the allocator: a refused allocation is a finding.
// Only the driver links this (libFuzzer builds use -malloc_limit_mb / -rss_limit_mb).
#pragma once

#include <cstddef>

namespace viscpm::fuzz {

void alloc_guard_arm(size_t limit_bytes);
void alloc_guard_disarm();
// Largest refused request since the last arm (0: none).
size_t alloc_guard_refused();
// False when the interposition did not take (the driver then says so).
bool alloc_guard_active();

}  // namespace viscpm::fuzz
