// libviscpm_testkit.so: the C API of include/viscpm_testkit.h over the golden-case runner
// and the demo writers. Every entry point runs through viscpm::catch_all, as the library's.
#include "viscpm_testkit.h"

#include <ATen/Context.h>

#include <memory>
#include <string>
#include <vector>

#include "common/error_boundary.h"
#include "testkit/demo/demo_chat.h"
#include "testkit/demo/demo_paint.h"
#include "testkit/parity/kinds.h"
#include "testkit/parity/parity.h"

namespace {

thread_local std::string last_error;

template <class Body>
viscpm_status guarded(Body&& body) {
  return static_cast<viscpm_status>(viscpm::run_guarded(last_error, std::forward<Body>(body)));
}

using viscpm::require;

// The report's strings live in `outcome`; `checks` points into `check_views`.
struct ReportHandle : viscpm_parity_report {
  viscpm::parity::Outcome outcome;
  std::vector<viscpm_parity_check> check_views;
};

}  // namespace

struct viscpm_parity_suite {
  std::unique_ptr<viscpm::parity::Suite> suite;
  std::vector<std::string> names, kinds;
};

extern "C" {

const char* viscpm_testkit_last_error(void) { return last_error.c_str(); }

viscpm_status viscpm_testkit_write_demo_chat_model(const char* dir) {
  return guarded([&] {
    if (!dir || !*dir) throw viscpm::InvalidArgument("directory is empty");
    viscpm::testkit::write_demo_chat_model(dir);
  });
}

viscpm_status viscpm_testkit_write_demo_paint_model(const char* dir) {
  return guarded([&] {
    if (!dir || !*dir) throw viscpm::InvalidArgument("directory is empty");
    viscpm::testkit::write_demo_paint_model(dir);
  });
}

const char* viscpm_parity_status_name(int32_t status) {
  static const char* const names[] = {"PASS", "FAIL", "SKIP"};
  return status >= 0 && status < VISCPM_PARITY_STATUS_COUNT ? names[status] : nullptr;
}

viscpm_status viscpm_parity_open(const char* fixtures_dir, const char* device, viscpm_parity_suite** out) {
  return guarded([&] {
    if (!fixtures_dir) throw viscpm::InvalidArgument("fixtures folder is null");
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    viscpm::parity::register_builtin_kinds();
    auto handle = std::make_unique<viscpm_parity_suite>();
    handle->suite = std::make_unique<viscpm::parity::Suite>(fixtures_dir);
    const std::string dev = device && *device ? device : "cpu";
    if (dev == "cuda") {
      if (!at::hasCUDA()) throw viscpm::Unsupported("device 'cuda' requested but this build/machine has no CUDA");
      handle->suite->set_device(at::Device(at::kCUDA));
    } else if (dev != "cpu") {
      throw viscpm::InvalidArgument("unknown device '" + dev + "' (use cpu or cuda)");
    }
    for (const auto& entry : handle->suite->manifest().at("cases")) {
      handle->names.push_back(entry.at("name").get<std::string>());
      handle->kinds.push_back(entry.at("kind").get<std::string>());
    }
    *out = handle.release();
  });
}

void viscpm_parity_free(viscpm_parity_suite* suite) { delete suite; }

int64_t viscpm_parity_case_count(const viscpm_parity_suite* suite) {
  return suite ? static_cast<int64_t>(suite->names.size()) : 0;
}

const char* viscpm_parity_case_name(const viscpm_parity_suite* suite, int64_t index) {
  if (!suite || index < 0 || index >= static_cast<int64_t>(suite->names.size())) return nullptr;
  return suite->names[index].c_str();
}

const char* viscpm_parity_case_kind(const viscpm_parity_suite* suite, int64_t index) {
  if (!suite || index < 0 || index >= static_cast<int64_t>(suite->kinds.size())) return nullptr;
  return suite->kinds[index].c_str();
}

viscpm_status viscpm_parity_run(viscpm_parity_suite* suite, int64_t index, viscpm_parity_report** report_out) {
  return guarded([&] {
    auto& s = require(suite, "parity suite");
    if (!report_out) throw viscpm::InvalidArgument("report pointer is null");
    *report_out = nullptr;
    const auto& cases = s.suite->manifest().at("cases");
    if (index < 0 || index >= static_cast<int64_t>(cases.size()))
      throw viscpm::InvalidArgument("case index " + std::to_string(index) + " out of range [0, " +
                                    std::to_string(cases.size()) + ")");
    auto handle = std::make_unique<ReportHandle>();
    handle->outcome = viscpm::parity::run_case(*s.suite, cases[index]);
    const auto& o = handle->outcome;
    for (const auto& c : o.checks)
      handle->check_views.push_back({c.name.c_str(), c.pass ? 1 : 0, c.worst, c.where.c_str(), c.detail.c_str()});
    viscpm_parity_report& r = *handle;
    r.name = o.name.c_str();
    r.kind = o.kind.c_str();
    r.status = o.status == viscpm::parity::Outcome::Status::kPass   ? VISCPM_PARITY_PASS
               : o.status == viscpm::parity::Outcome::Status::kFail ? VISCPM_PARITY_FAIL
                                                                    : VISCPM_PARITY_SKIP;
    r.summary = o.summary.c_str();
    r.seconds = o.seconds;
    r.check_count = static_cast<int64_t>(handle->check_views.size());
    r.checks = handle->check_views.data();
    *report_out = handle.release();
  });
}

void viscpm_parity_report_free(viscpm_parity_report* report) { delete static_cast<ReportHandle*>(report); }

int32_t viscpm_parity_kind_count(void) {
  viscpm::parity::register_builtin_kinds();
  return static_cast<int32_t>(viscpm::parity::registered_kinds().size());
}

const char* viscpm_parity_kind_name(int32_t index) {
  viscpm::parity::register_builtin_kinds();
  static const std::vector<std::string> kinds = viscpm::parity::registered_kinds();
  return index >= 0 && index < static_cast<int32_t>(kinds.size()) ? kinds[index].c_str() : nullptr;
}

}  // extern "C"
