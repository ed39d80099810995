#include "common/runtime.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"

namespace viscpm::runtime {

namespace {

std::mutex mutex;

// LibTorch's own choice, read before the first change.
int default_threads() {
  static const int threads = at::get_num_threads();
  return threads;
}

}  // namespace

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

int set_num_threads(int num_threads) {
  if (num_threads < 0) throw InvalidArgument("num_threads must be >= 0, got " + std::to_string(num_threads));
  std::lock_guard<std::mutex> lock(mutex);
  const int target = num_threads == 0 ? default_threads() : std::min(num_threads, hardware_threads());
  if (target != at::get_num_threads()) at::set_num_threads(target);
  return at::get_num_threads();
}

int num_threads() { return at::get_num_threads(); }

}  // namespace viscpm::runtime
