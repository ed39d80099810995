// viscpm_tool: a JVM-free command line over libviscpm, for machines without a JDK.
//   viscpm_tool inspect FILE                 tensors of a checkpoint (name, dtype, shape, bytes)
//   viscpm_tool parity DIR [--device cpu|cuda[:N]] [--kind K] [--case NAME]
//                                            runs the golden cases of DIR/manifest.json
// Exit status: 0 success, 1 a parity case failed, 2 usage or error.
#include <ATen/core/Tensor.h>
#include <ATen/Context.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "io/dtypes.h"
#include "io/tensor_source.h"
#include "testkit/parity/kinds.h"
#include "testkit/parity/parity.h"

namespace {

int usage() {
  std::cerr << "usage:\n"
               "  viscpm_tool inspect FILE\n"
               "  viscpm_tool parity DIR [--device cpu|cuda[:N]] [--kind KIND] [--case NAME]\n";
  return 2;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int inspect(const std::string& path) {
  auto source = viscpm::io::TensorSource::open(path);
  std::cout << path << ": " << source->container_type() << ", " << source->entries().size() << " tensors\n";
  std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // dtype -> (tensors, bytes)
  int64_t total = 0;
  for (const auto& e : source->entries()) {
    std::string dtype = viscpm::io::python_dtype_name(e.dtype);
    std::cout << e.name << '\t' << dtype << '\t' << shape_text(e.shape) << '\t' << e.nbytes()
              << (e.contiguous() ? "" : "\t(strided view)") << '\n';
    by_dtype[dtype].first += 1;
    by_dtype[dtype].second += e.nbytes();
    total += e.nbytes();
  }
  for (const auto& [dtype, counts] : by_dtype)
    std::cout << "total " << dtype << ": " << counts.first << " tensors, " << counts.second << " bytes\n";
  std::cout << "total: " << source->entries().size() << " tensors, " << total << " bytes\n";
  return 0;
}

int parity(int argc, char** argv) {
  if (argc < 3) return usage();
  std::string dir = argv[2], device = "cpu", kind, only_case;
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--device") device = argv[++i];
    else if (arg == "--kind") kind = argv[++i];
    else if (arg == "--case") only_case = argv[++i];
    else return usage();
  }
  at::Device dev(at::kCPU);
  try {
    dev = at::Device(device);
  } catch (const std::exception&) {
    std::cerr << "unknown device '" << device << "'\n";
    return 2;
  }
  if (dev.is_cuda() && !at::hasCUDA()) {
    std::cerr << "--device " << device << ": this build or machine has no CUDA\n";
    return 2;
  }
  viscpm::parity::register_builtin_kinds();
  viscpm::parity::Suite suite(dir);
  suite.set_device(dev);
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& entry : suite.manifest().at("cases")) {
    if (!kind.empty() && entry.value("kind", "") != kind) continue;
    if (!only_case.empty() && entry.value("name", "") != only_case) continue;
    auto outcome = viscpm::parity::run_case(suite, entry);
    const char* status = "SKIP";
    if (outcome.status == viscpm::parity::Outcome::Status::kPass) status = "PASS", ++passed;
    else if (outcome.status == viscpm::parity::Outcome::Status::kFail) status = "FAIL", ++failed;
    else ++skipped;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, " [%.2f s]", outcome.seconds);
    std::cout << status << ' ' << outcome.name << ' ' << outcome.kind << ' ' << outcome.summary << seconds << std::endl;
  }
  std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped" << std::endl;
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string command = argv[1];
  try {
    if (command == "inspect" && argc == 3) return inspect(argv[2]);
    if (command == "parity") return parity(argc, argv);
    return usage();
  } catch (const viscpm::Error& e) {
    std::cerr << "error (" << viscpm::error_code_name(e.code()) << "): " << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
  }
  return 2;
}
