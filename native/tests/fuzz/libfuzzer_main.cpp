// libFuzzer entry points for one target (clang only; see CMakeLists.txt): the binary
// fuzz_<name> is built with -DVISCPM_FUZZ_TARGET="<name>". Targets with a structure-aware
// mutator use it for 4 inputs in 5 and libFuzzer's own mutations for the rest.
//
//   VISCPM_FIXTURES_DIR=/path/to/fixtures ./fuzz_pickle corpus/ -max_len=1048576
//   (seed corpus: viscpm_fuzz --write-corpus corpus-root, then corpus-root/pickle)
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "fuzz.h"
#include "mutator.h"
#include "test_config.h"

#ifndef VISCPM_FUZZ_TARGET
#error "VISCPM_FUZZ_TARGET must name the target"
#endif

namespace {
const viscpm::fuzz::Target* g_target = nullptr;
}

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  viscpm::fuzz::Context context;
  const char* env = std::getenv("VISCPM_FIXTURES_DIR");
  context.fixtures = env && *env ? env : VISCPM_DEFAULT_FIXTURES_DIR;
  context.source_dir = VISCPM_SOURCE_DIR;
  context.scratch = std::filesystem::temp_directory_path() / ("viscpm_libfuzzer_" + std::to_string(::getpid()));
  std::filesystem::create_directories(context.scratch);
  g_target = viscpm::fuzz::find_target(VISCPM_FUZZ_TARGET);
  if (!g_target) std::abort();
  g_target->init(context);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return g_target->fuzz_one(data, size); }

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  if (!g_target->mutate || seed % 5 == 0) return LLVMFuzzerMutate(data, size, max_size);
  viscpm::fuzz::Mutator m(seed);
  viscpm::fuzz::Bytes input(reinterpret_cast<const char*>(data), size);
  g_target->mutate(input, max_size, m);
  if (input.size() > max_size) input.resize(max_size);
  std::memcpy(data, input.data(), input.size());
  return input.size();
}
