// Golden-case runner: one function per case kind computes the case's outputs with the
// runtime's own code and compares them with the reference values under the manifest's
// tolerances. The format is defined by ../shared/fixtures/README.md; nothing here knows
// about particular cases, only about kinds.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace viscpm::parity {

using json = nlohmann::ordered_json;

struct Tolerance {
  enum class Kind { kExact, kClose, kMaxAbs } kind = Kind::kExact;
  double atol = 0, rtol = 0, max_abs = 0;
  static Tolerance parse(const json& spec);  // "exact" | {"atol","rtol"} | {"max_abs"}
  std::string describe() const;
};

// Everything shared by the cases of one fixtures folder: the manifest and a cache for
// objects several cases use (vocabulary, loaded models), keyed by a string.
class Suite {
 public:
  explicit Suite(std::filesystem::path root);  // reads root/manifest.json
  const std::filesystem::path& root() const { return root_; }
  const json& manifest() const { return manifest_; }
  std::filesystem::path resolve(const std::string& relative) const { return root_ / relative; }
  at::Device device() const { return device_; }
  void set_device(at::Device d) { device_ = d; }

  template <class T>
  std::shared_ptr<T> cached(const std::string& key, const std::function<std::shared_ptr<T>()>& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return std::static_pointer_cast<T>(it->second);
    auto value = make();
    cache_[key] = value;
    return value;
  }

 private:
  std::filesystem::path root_;
  json manifest_;
  at::Device device_ = at::kCPU;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<void>> cache_;
};

// One case: its manifest entry plus lazily loaded inputs/expected values.
class Case {
 public:
  Case(Suite& suite, json entry);
  Suite& suite() const { return suite_; }
  const json& entry() const { return entry_; }
  std::string name() const { return entry_.at("name").get<std::string>(); }
  std::string kind() const { return entry_.at("kind").get<std::string>(); }
  const json& params() const;                          // {} when absent
  std::filesystem::path model_dir() const;             // root / entry["model"]
  std::filesystem::path checkpoint() const;            // root / entry["checkpoint"]
  std::filesystem::path input_file(const std::string& file_name) const;  // one of inputs.files

  at::Tensor input(const std::string& name) const;     // from inputs.safetensors
  bool has_input(const std::string& name) const;
  at::Tensor expected(const std::string& name) const;  // from expected.safetensors
  bool has_expected(const std::string& name) const;
  std::vector<std::string> expected_names() const;
  const json& inputs_json() const;
  const json& expected_json() const;
  Tolerance tolerance(const std::string& name) const;  // name, else "*", else exact

 private:
  const std::map<std::string, at::Tensor>& tensors(const char* which) const;
  Suite& suite_;
  json entry_;
  mutable std::map<std::string, std::map<std::string, at::Tensor>> tensors_;
  mutable std::map<std::string, json> json_;
};

// The verdict of each comparison of a case.
struct Check {
  std::string name;
  bool pass = false;
  double worst = 0;     // worst absolute error (or mismatch count for exact non-float data)
  std::string where;    // index of the worst element / JSON path of the first mismatch
  std::string detail;   // shape mismatch, missing value, ...
};

class Result {
 public:
  // Compares values, not dtypes: both sides are compared as float64 (ids as int64).
  void compare(const std::string& name, const at::Tensor& actual, const at::Tensor& expected,
               const Tolerance& tol);
  // Compares `actual` with the case's expected tensor `name` under its tolerance.
  void compare(const Case& c, const std::string& name, const at::Tensor& actual);
  // JSON: structure, strings, ints, bools exact; floats under `json_floats` if the case
  // has it, else exact. `label` names the check ("json" or a sub-path).
  void compare_json(const Case& c, const std::string& label, const json& actual, const json& expected);
  void fail(const std::string& name, const std::string& detail);
  const std::vector<Check>& checks() const { return checks_; }
  bool passed() const;
  const Check* worst_failure() const;

 private:
  std::vector<Check> checks_;
};

using KindRunner = std::function<void(const Case&, Result&)>;
// Kinds register themselves in kinds.cpp (register_builtin_kinds); tests may add more.
void register_kind(const std::string& kind, KindRunner runner);
bool has_kind(const std::string& kind);
std::vector<std::string> registered_kinds();

struct Outcome {
  enum class Status { kPass, kFail, kSkip } status = Status::kSkip;
  std::string name, kind;
  std::string summary;  // worst error and where, or why it was skipped / failed
  std::vector<Check> checks;
  double seconds = 0;
};
// Runs one case. A thrown error counts as FAIL with its message; an unknown kind is SKIP.
Outcome run_case(Suite& suite, const json& entry);

}  // namespace viscpm::parity
