// The fuzz targets of the native runtime, in libFuzzer's shape: each target is one
// `int fuzz_one(const uint8_t* data, size_t size)` that feeds the bytes through the real
// entry points (open a checkpoint and read every tensor, decode an image, tokenize, parse
// a config, ...). The same targets run under the in-process mutation driver (driver.cpp,
// `viscpm_fuzz`) and, when the compiler is clang, under libFuzzer (libfuzzer_main.cpp).
//
// The contract of fuzz_one: it returns normally when the input was accepted or refused
// with a typed viscpm::Error of a user-facing code (FormatError, InvalidArgument,
// Unsupported, ...). Everything else escapes as an exception and is a finding:
//   - any exception outside viscpm::Error (c10::Error, std::bad_alloc, std::out_of_range,
//     nlohmann::json::exception, cv::Exception, ...): the runtime let a malformed input
//     reach code that was never meant to see it;
//   - a viscpm::Error of code kInternal ("a bug") or kOutOfMemory (a small damaged input
//     must never exhaust memory);
//   - an OracleViolation: the input was accepted but a property the docs promise fails
//     (decode(encode(text)) != text, a decoded image larger than its pixel limit, ...).
// Signals (SIGSEGV, SIGABRT, ...) are findings too, caught by the driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"

namespace viscpm::fuzz {

using Bytes = std::string;

// What the targets need from the outside world.
struct Context {
  std::filesystem::path fixtures;    // the golden fixtures (manifest.json, models/, cases/, vocab/)
  std::filesystem::path scratch;     // a folder of this process for the inputs entry points read from a path
  std::filesystem::path source_dir;  // the repository (models/*.json are config seeds)
};

class Mutator;

struct Target {
  const char* name;
  const char* what;                              // one line for --list and the README
  void (*init)(const Context&);                  // once per process, before the first input
  int (*fuzz_one)(const uint8_t*, size_t);       // LLVMFuzzerTestOneInput
  std::vector<Bytes> (*seeds)(const Context&);   // the seed corpus, built from the fixtures
  // Structure-aware mutation (nullptr: byte-level mutations only). Used for most inputs
  // of the target; the driver still applies plain byte mutations to the rest.
  void (*mutate)(Bytes& input, size_t max_len, Mutator& m);
  size_t max_len;                                // inputs are never grown past this (seeds may be larger)
  std::vector<Bytes> (*dictionary)();            // tokens for the dictionary mutation (nullptr: none)
};

// Every target, in the order `--target all` runs them.
const std::vector<Target>& targets();
const Target* find_target(const std::string& name);

// An accepted input broke a documented property. Not a viscpm::Error: always a finding.
struct OracleViolation : std::logic_error {
  explicit OracleViolation(const std::string& what) : std::logic_error("oracle: " + what) {}
};
[[noreturn]] inline void oracle_failed(const std::string& what) { throw OracleViolation(what); }

// The harness itself failed (a scratch file could not be written, a fixture is missing):
// stops the run, never counted as a finding of the runtime.
struct HarnessError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- outcomes ----------------------------------------------------------------------------
// fuzz_one records how each step of an input ended ("ok" or a normalised error message);
// the driver keeps inputs that produce an outcome never seen before (a cheap stand-in for
// coverage feedback: a mutant that gets past an earlier check reaches a new message).
void reset_outcome();
void note_ok();
void note_error(const viscpm::Error& e);
const std::string& outcome();
// Full messages instead of normalised ones (--replay shows what each step said).
void set_verbose_outcomes(bool verbose);

// Runs one step of an input: returns after `body` returns or throws a user-facing
// viscpm::Error (noted); rethrows everything else.
template <class Body>
void step(Body&& body) {
  try {
    body();
    note_ok();
  } catch (const viscpm::Error& e) {
    if (e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kOutOfMemory) throw;
    note_error(e);
  }
}

// ---- helpers shared by the targets ---------------------------------------------------------
Bytes read_bytes(const std::filesystem::path& path);   // HarnessError when unreadable
void write_bytes(const std::filesystem::path& path, const uint8_t* data, size_t size);
// The one scratch file of `target` (reused for every input).
std::filesystem::path scratch_file(const Context& context, const std::string& target, const std::string& extension);
std::filesystem::path fixture(const Context& context, const std::string& relative);  // HarnessError when missing

uint32_t crc32_of(const void* data, size_t size);
uint64_t fnv1a(const uint8_t* data, size_t size);

}  // namespace viscpm::fuzz
