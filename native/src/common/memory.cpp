#include "common/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/error.h"

namespace viscpm::memory {

namespace {
constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

uint64_t mem_available() {  // kB in /proc/meminfo
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;
  }
  return kUnlimited;
}

uint64_t read_number(const char* path) {  // "max" or a missing file: unlimited
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return kUnlimited;
  try {
    return std::stoull(text);
  } catch (...) {
    return kUnlimited;
  }
}

uint64_t cgroup_headroom() {
  uint64_t limit = read_number("/sys/fs/cgroup/memory.max");
  if (limit == kUnlimited) return kUnlimited;
  uint64_t used = read_number("/sys/fs/cgroup/memory.current");
  if (used == kUnlimited) return limit;
  return limit > used ? limit - used : 0;
}

uint64_t address_space_headroom() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kUnlimited;
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0;
  if (!(in >> pages)) return kUnlimited;
  uint64_t used = pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return limit.rlim_cur > used ? limit.rlim_cur - used : 0;
}
}  // namespace

uint64_t available_host_bytes() {
  return std::min({mem_available(), cgroup_headroom(), address_space_headroom()});
}

std::string byte_text(double bytes) {
  static const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  int unit = 0;
  while (bytes >= 1000.0 && unit < 6) {
    bytes /= 1000.0;
    ++unit;
  }
  char text[64];
  if (unit == 0) std::snprintf(text, sizeof text, "%.0f bytes", bytes);
  else std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

void require(double bytes, const std::string& what, c10::Device device, const std::string& advice) {
  if (!device.is_cpu()) return;
  const uint64_t available = available_host_bytes();
  if (available == kUnlimited || bytes <= static_cast<double>(available)) return;
  throw OutOfMemory(what + " needs about " + byte_text(bytes) + " but only " + byte_text(double(available)) +
                    " of memory is available" + (advice.empty() ? std::string() : "; " + advice));
}

}  // namespace viscpm::memory
