// Memory estimates checked before large allocations. A request that cannot fit (a KV cache
// for max_length 1e9, a config with dim_model 1e12, a 16k x 16k image) is refused with
// OutOfMemory naming what it needs and what the machine has, before anything is allocated,
// instead of failing half-way with the allocator's text or being killed by the kernel.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace viscpm::memory {

// Bytes this process may still allocate on the host: the least of the kernel's MemAvailable,
// the cgroup's memory.max minus memory.current, and RLIMIT_AS minus the address space in use.
uint64_t available_host_bytes();

// "768.0 GB", "12.3 MB", "512 bytes".
std::string byte_text(double bytes);

// Throws OutOfMemory when `bytes` exceeds what is available on `device` (the host for CPU;
// other devices are left to their allocator). `what` says what the bytes are for and
// `advice` what the caller can change, e.g. "lower max_length or the beam size".
void require(double bytes, const std::string& what, c10::Device device, const std::string& advice);

}  // namespace viscpm::memory
