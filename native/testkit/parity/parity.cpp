#include "testkit/parity/parity.h"

#include <ATen/ops/full_like.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "io/tensor_source.h"
#include "common/tensor_text.h"

namespace viscpm::parity {
namespace fs = std::filesystem;

namespace {

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw NotFound("cannot open " + path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(path.string() + ": invalid JSON: " + e.what());
  }
}

std::string format_number(double v) {
  std::ostringstream out;
  out.precision(3);
  out << std::scientific << v;
  return out.str();
}

// Index of a flat element as "[i, j, k]" for a shape.
std::string index_string(int64_t flat, at::IntArrayRef shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string s = "[";
  for (size_t i = 0; i < idx.size(); ++i) s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + "]";
}

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::map<std::string, KindRunner>& registry() {
  static std::map<std::string, KindRunner> kinds;
  return kinds;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

// ---------------------------------------------------------------- Tolerance

Tolerance Tolerance::parse(const json& spec) {
  Tolerance t;
  if (spec.is_string()) {
    if (spec.get<std::string>() != "exact") throw FormatError("unknown tolerance '" + spec.get<std::string>() + "'");
    return t;
  }
  if (!spec.is_object()) throw FormatError("tolerance must be \"exact\" or an object, got " + spec.dump());
  if (spec.contains("max_abs")) {
    t.kind = Kind::kMaxAbs;
    t.max_abs = spec.at("max_abs").get<double>();
  } else {
    t.kind = Kind::kClose;
    t.atol = spec.value("atol", 0.0);
    t.rtol = spec.value("rtol", 0.0);
  }
  return t;
}

std::string Tolerance::describe() const {
  switch (kind) {
    case Kind::kExact: return "exact";
    case Kind::kMaxAbs: return "max_abs " + format_number(max_abs);
    case Kind::kClose: return "atol " + format_number(atol) + " rtol " + format_number(rtol);
  }
  return "?";
}

// ---------------------------------------------------------------- Suite / Case

Suite::Suite(fs::path root) : root_(std::move(root)) {
  if (!fs::exists(root_ / "manifest.json"))
    throw NotFound("no manifest.json in " + root_.string() + " (is this a fixtures folder?)");
  manifest_ = read_json_file(root_ / "manifest.json");
  if (!manifest_.contains("cases") || !manifest_["cases"].is_array())
    throw FormatError(root_.string() + "/manifest.json has no \"cases\" list");
}

Case::Case(Suite& suite, json entry) : suite_(suite), entry_(std::move(entry)) {}

const json& Case::params() const {
  static const json empty = json::object();
  auto it = entry_.find("params");
  return it == entry_.end() || it->is_null() ? empty : *it;
}

fs::path Case::model_dir() const {
  if (!entry_.contains("model") || entry_["model"].is_null()) throw FormatError(name() + ": case names no model");
  return suite_.resolve(entry_["model"].get<std::string>());
}

fs::path Case::checkpoint() const {
  if (!entry_.contains("checkpoint") || entry_["checkpoint"].is_null())
    throw FormatError(name() + ": case names no checkpoint");
  return suite_.resolve(entry_["checkpoint"].get<std::string>());
}

fs::path Case::input_file(const std::string& file_name) const {
  const auto& inputs = entry_.value("inputs", json::object());
  if (inputs.contains("files")) {
    for (const auto& f : inputs["files"]) {
      fs::path p = f.get<std::string>();
      if (p.filename() == file_name || f.get<std::string>() == file_name) return suite_.resolve(p.string());
    }
  }
  throw FormatError(name() + ": no input file '" + file_name + "'");
}

const std::map<std::string, at::Tensor>& Case::tensors(const char* which) const {
  auto it = tensors_.find(which);
  if (it != tensors_.end()) return it->second;
  std::map<std::string, at::Tensor> loaded;
  const auto& section = entry_.value(which, json::object());
  if (section.contains("tensors")) {
    for (auto& [key, tensor] : io::read_all(suite_.resolve(section["tensors"].get<std::string>())))
      loaded.emplace(key, tensor);
  }
  return tensors_.emplace(which, std::move(loaded)).first->second;
}

at::Tensor Case::input(const std::string& n) const {
  const auto& t = tensors("inputs");
  auto it = t.find(n);
  if (it == t.end()) throw FormatError(name() + ": inputs have no tensor '" + n + "'");
  return it->second;
}
bool Case::has_input(const std::string& n) const { return tensors("inputs").count(n) > 0; }

at::Tensor Case::expected(const std::string& n) const {
  const auto& t = tensors("expected");
  auto it = t.find(n);
  if (it == t.end()) throw FormatError(name() + ": expected values have no tensor '" + n + "'");
  return it->second;
}
bool Case::has_expected(const std::string& n) const { return tensors("expected").count(n) > 0; }

std::vector<std::string> Case::expected_names() const {
  std::vector<std::string> names;
  for (const auto& [k, v] : tensors("expected")) names.push_back(k);
  return names;
}

const json& Case::inputs_json() const {
  auto it = json_.find("inputs");
  if (it != json_.end()) return it->second;
  const auto& section = entry_.value("inputs", json::object());
  if (!section.contains("json")) throw FormatError(name() + ": case has no inputs.json");
  return json_.emplace("inputs", read_json_file(suite_.resolve(section["json"].get<std::string>()))).first->second;
}

const json& Case::expected_json() const {
  auto it = json_.find("expected");
  if (it != json_.end()) return it->second;
  const auto& section = entry_.value("expected", json::object());
  if (!section.contains("json")) throw FormatError(name() + ": case has no expected.json");
  return json_.emplace("expected", read_json_file(suite_.resolve(section["json"].get<std::string>()))).first->second;
}

Tolerance Case::tolerance(const std::string& n) const {
  const auto& tol = entry_.value("tolerance", json::object());
  if (tol.contains(n)) return Tolerance::parse(tol[n]);
  if (tol.contains("*")) return Tolerance::parse(tol["*"]);
  return Tolerance{};
}

// ---------------------------------------------------------------- Result

void Result::compare(const std::string& name, const at::Tensor& actual_in, const at::Tensor& expected_in,
                     const Tolerance& tol) {
  Check check;
  check.name = name;
  if (!actual_in.defined()) {
    check.detail = "no value computed";
    checks_.push_back(check);
    return;
  }
  at::Tensor actual = actual_in.detach().to(at::kCPU);
  at::Tensor expected = expected_in.detach().to(at::kCPU);
  if (actual.sizes() != expected.sizes()) {
    // A 1-element tensor matches a scalar and vice versa.
    if (actual.numel() == 1 && expected.numel() == 1) {
      actual = actual.reshape(expected.sizes());
    } else {
      check.detail = "shape " + shape_string(actual.sizes()) + " != expected " + shape_string(expected.sizes());
      checks_.push_back(check);
      return;
    }
  }
  const auto shape = expected.sizes().vec();
  if (expected.numel() == 0) {
    check.pass = true;
    checks_.push_back(check);
    return;
  }
  at::Tensor a = actual.to(at::kDouble).flatten();
  at::Tensor e = expected.to(at::kDouble).flatten();
  at::Tensor diff = (a - e).abs();
  // NaN in either side counts as an infinite error unless both are NaN at the same place.
  at::Tensor both_nan = a.isnan().logical_and(e.isnan());
  diff = at::where(both_nan, at::zeros_like(diff), at::where(diff.isnan(), at::full_like(diff, INFINITY), diff));
  at::Tensor excess;
  switch (tol.kind) {
    case Tolerance::Kind::kExact: excess = diff; break;
    case Tolerance::Kind::kMaxAbs: excess = diff - tol.max_abs; break;
    case Tolerance::Kind::kClose: excess = diff - (tol.atol + tol.rtol * e.abs()); break;
  }
  int64_t worst_index = diff.argmax().item<int64_t>();
  check.worst = diff[worst_index].item<double>();
  int64_t worst_excess_index = excess.argmax().item<int64_t>();
  double worst_excess = excess[worst_excess_index].item<double>();
  check.pass = worst_excess <= 0.0;
  int64_t where = check.pass ? worst_index : worst_excess_index;
  check.where = index_string(where, shape);
  if (!check.pass) {
    int64_t bad = (excess > 0).sum().item<int64_t>();
    std::ostringstream detail;
    detail.precision(9);
    detail << bad << "/" << e.numel() << " outside " << tol.describe() << "; actual " << a[where].item<double>()
           << " expected " << e[where].item<double>();
    check.detail = detail.str();
  }
  checks_.push_back(check);
}

void Result::compare(const Case& c, const std::string& name, const at::Tensor& actual) {
  compare(name, actual, c.expected(name), c.tolerance(name));
}

namespace {

struct JsonComparer {
  bool floats_close = false;
  double atol = 0, rtol = 0;
  double worst = 0;
  std::string first_mismatch;
  std::string worst_path;
  int mismatches = 0;

  void mismatch(const std::string& path, const std::string& what) {
    if (mismatches++ == 0) first_mismatch = path + ": " + what;
  }

  void run(const json& a, const json& e, const std::string& path) {
    if (e.is_number_float() || (a.is_number_float() && e.is_number())) {
      if (!a.is_number()) return mismatch(path, "expected number " + e.dump() + ", got " + a.dump());
      double av = a.get<double>(), ev = e.get<double>();
      double d = std::isnan(av) && std::isnan(ev) ? 0.0 : std::fabs(av - ev);
      if (std::isnan(d)) d = INFINITY;
      if (d > worst) {
        worst = d;
        worst_path = path;
      }
      double bound = floats_close ? atol + rtol * std::fabs(ev) : 0.0;
      if (d > bound) mismatch(path, "got " + a.dump() + ", expected " + e.dump());
      return;
    }
    if (e.type() != a.type() && !(e.is_number_integer() && a.is_number_integer()))
      return mismatch(path, "expected " + std::string(e.type_name()) + " " + e.dump().substr(0, 80) + ", got " +
                                std::string(a.type_name()) + " " + a.dump().substr(0, 80));
    if (e.is_object()) {
      auto ai = a.begin();
      auto ei = e.begin();
      for (; ei != e.end(); ++ei) {
        if (ai == a.end() || ai.key() != ei.key()) {
          if (!a.contains(ei.key())) return mismatch(path + "." + ei.key(), "missing key");
          return mismatch(path + "." + ei.key(), "key order differs (got '" + (ai == a.end() ? std::string("<end>") : ai.key()) + "')");
        }
        run(ai.value(), ei.value(), path + "." + ei.key());
        ++ai;
      }
      if (ai != a.end()) mismatch(path + "." + ai.key(), "unexpected key");
      return;
    }
    if (e.is_array()) {
      if (a.size() != e.size())
        mismatch(path, "length " + std::to_string(a.size()) + " != expected " + std::to_string(e.size()));
      for (size_t i = 0; i < std::min(a.size(), e.size()); ++i) run(a[i], e[i], path + "[" + std::to_string(i) + "]");
      return;
    }
    if (a != e) mismatch(path, "got " + a.dump().substr(0, 120) + ", expected " + e.dump().substr(0, 120));
  }
};

}  // namespace

void Result::compare_json(const Case& c, const std::string& label, const json& actual, const json& expected) {
  JsonComparer cmp;
  const auto& tol = c.entry().value("tolerance", json::object());
  if (tol.contains("json_floats")) {
    auto t = Tolerance::parse(tol["json_floats"]);
    cmp.floats_close = true;
    cmp.atol = t.atol;
    cmp.rtol = t.rtol;
  }
  cmp.run(actual, expected, "$");
  Check check;
  check.name = label;
  check.pass = cmp.mismatches == 0;
  check.worst = cmp.mismatches ? static_cast<double>(cmp.mismatches) : cmp.worst;
  check.where = cmp.mismatches ? cmp.first_mismatch : cmp.worst_path;
  if (!check.pass) check.detail = std::to_string(cmp.mismatches) + " mismatch(es), first at " + cmp.first_mismatch;
  checks_.push_back(check);
}

void Result::fail(const std::string& name, const std::string& detail) {
  Check check;
  check.name = name;
  check.detail = detail;
  checks_.push_back(check);
}

bool Result::passed() const {
  if (checks_.empty()) return false;
  for (const auto& c : checks_)
    if (!c.pass) return false;
  return true;
}

const Check* Result::worst_failure() const {
  for (const auto& c : checks_)
    if (!c.pass) return &c;
  return nullptr;
}

// ---------------------------------------------------------------- registry / run

void register_kind(const std::string& kind, KindRunner runner) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[kind] = std::move(runner);
}

bool has_kind(const std::string& kind) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return registry().count(kind) > 0;
}

std::vector<std::string> registered_kinds() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> kinds;
  for (const auto& [k, v] : registry()) kinds.push_back(k);
  return kinds;
}

Outcome run_case(Suite& suite, const json& entry) {
  Outcome outcome;
  outcome.name = entry.value("name", "?");
  outcome.kind = entry.value("kind", "?");
  KindRunner runner;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(outcome.kind);
    if (it != registry().end()) runner = it->second;
  }
  if (!runner) {
    outcome.status = Outcome::Status::kSkip;
    outcome.summary = "kind not implemented";
    return outcome;
  }
  auto start = std::chrono::steady_clock::now();
  Result result;
  try {
    c10::InferenceMode guard;
    Case c(suite, entry);
    runner(c, result);
  } catch (const std::exception& e) {
    result.fail("error", e.what());
  }
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.checks = result.checks();
  if (result.passed()) {
    outcome.status = Outcome::Status::kPass;
    const Check* worst = nullptr;
    for (const auto& c : outcome.checks)
      if (!worst || c.worst > worst->worst) worst = &c;
    outcome.summary = std::to_string(outcome.checks.size()) + " checks, worst error " + format_number(worst->worst) +
                      " (" + worst->name + (worst->where.empty() ? "" : " at " + worst->where) + ")";
  } else {
    outcome.status = Outcome::Status::kFail;
    const Check* bad = result.worst_failure();
    outcome.summary = bad ? bad->name + ": " + (bad->detail.empty() ? "failed" : bad->detail) +
                                (bad->where.empty() ? "" : " (at " + bad->where + ")")
                          : "no checks were made";
  }
  return outcome;
}

}  // namespace viscpm::parity
