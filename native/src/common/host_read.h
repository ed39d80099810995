// Reads from the device to the host, counted. The decode loop reads once per token (the
// chosen ids); every such read goes through read_to_host so that tests and benchmarks can
// count them (together with an observer of LibTorch's item()/equal()/bool() reads).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace viscpm {

// A CPU copy of `t` (contiguous); counts one host read.
at::Tensor read_to_host(const at::Tensor& t);
// Reads so far in this process (monotonic; compare two values).
int64_t host_reads();

// Counts, while alive, the host reads of this thread: read_to_host calls plus LibTorch ops
// that return a host value (item, equal, is_nonzero, allclose). For tests and benchmarks.
class HostReadCounter {
 public:
  HostReadCounter();
  ~HostReadCounter();
  HostReadCounter(const HostReadCounter&) = delete;
  HostReadCounter& operator=(const HostReadCounter&) = delete;
  int64_t count() const;

 private:
  int64_t start_;
  uint64_t handle_;
};

}  // namespace viscpm
