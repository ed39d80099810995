#include "common/host_read.h"

#include <ATen/record_function.h>

#include <atomic>
#include <cstring>

namespace viscpm {

namespace {

std::atomic<int64_t> explicit_reads{0};
thread_local int64_t op_reads = 0;
thread_local int64_t thread_explicit_reads = 0;

bool is_host_value_op(const char* name) {
  return std::strcmp(name, "aten::_local_scalar_dense") == 0 || std::strcmp(name, "aten::equal") == 0 ||
         std::strcmp(name, "aten::is_nonzero") == 0 || std::strcmp(name, "aten::allclose") == 0;
}

}  // namespace

at::Tensor read_to_host(const at::Tensor& t) {
  explicit_reads.fetch_add(1, std::memory_order_relaxed);
  ++thread_explicit_reads;
  return t.to(at::kCPU).contiguous();
}

int64_t host_reads() { return explicit_reads.load(std::memory_order_relaxed); }

HostReadCounter::HostReadCounter() : start_(op_reads + thread_explicit_reads) {
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(
          [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
            if (is_host_value_op(fn.name())) ++op_reads;
            return nullptr;
          })
          .scopes({at::RecordScope::FUNCTION}));
}

HostReadCounter::~HostReadCounter() { at::removeCallback(handle_); }

int64_t HostReadCounter::count() const { return op_reads + thread_explicit_reads - start_; }

}  // namespace viscpm
