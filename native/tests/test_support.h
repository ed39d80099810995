// Shared helpers of the native test suites.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "test_config.h"
#include "testkit/parity/kinds.h"
#include "testkit/parity/parity.h"

namespace viscpm::testing {

// A scratch folder unique to this process and object, removed at the end of the test (CTest
// runs suites as parallel processes).
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tag = "viscpm_test") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// The golden fixtures live beside the checkout (../shared/fixtures); VISCPM_FIXTURES_DIR
// overrides. Missing fixtures fail loudly: they are data the project reads, not commits.
inline std::filesystem::path fixtures_dir() {
  const char* env = std::getenv("VISCPM_FIXTURES_DIR");
  std::filesystem::path dir = env && *env ? env : VISCPM_DEFAULT_FIXTURES_DIR;
  if (!std::filesystem::exists(dir / "manifest.json")) {
    throw std::runtime_error("golden fixtures not found at " + dir.string() +
                             " (expected manifest.json there; set VISCPM_FIXTURES_DIR or place "
                             "the shared folder beside the checkout)");
  }
  return dir;
}

// Runs every case of `kind` in the shared fixtures and expects each to pass; returns the
// number of cases run (a kind with no case in the manifest fails the test).
inline int expect_kind_passes(const std::string& kind) {
  viscpm::parity::register_builtin_kinds();
  viscpm::parity::Suite suite(fixtures_dir());
  int ran = 0;
  for (const auto& entry : suite.manifest().at("cases")) {
    if (entry.at("kind").get<std::string>() != kind) continue;
    auto outcome = viscpm::parity::run_case(suite, entry);
    ++ran;
    std::string details;
    for (const auto& check : outcome.checks) {
      if (!check.pass)
        details += "\n  " + check.name + ": worst " + std::to_string(check.worst) + " at " +
                   check.where + " " + check.detail;
    }
    EXPECT_EQ(outcome.status, viscpm::parity::Outcome::Status::kPass)
        << outcome.name << " (" << kind << "): " << outcome.summary << details;
  }
  EXPECT_GT(ran, 0) << "no case of kind " << kind << " in the manifest";
  return ran;
}

}  // namespace viscpm::testing
