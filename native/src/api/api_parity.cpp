#include "api/guard.h"
#include "parity/kinds.h"
#include "parity/parity.h"

struct viscpm_parity_suite {
  std::unique_ptr<viscpm::parity::Suite> suite;
};

using namespace viscpm::api;
using viscpm::parity::json;

extern "C" {

viscpm_status viscpm_parity_open(const char* fixtures_dir, const char* device, viscpm_parity_suite** out) {
  return guarded([&] {
    if (!fixtures_dir) throw viscpm::InvalidArgument("fixtures folder is null");
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    viscpm::parity::register_builtin_kinds();
    auto handle = std::make_unique<viscpm_parity_suite>();
    handle->suite = std::make_unique<viscpm::parity::Suite>(fixtures_dir);
    std::string dev = device ? device : "cpu";
    if (dev == "cuda") {
      if (!at::hasCUDA()) throw viscpm::Unsupported("device 'cuda' requested but this build/machine has no CUDA");
      handle->suite->set_device(at::Device(at::kCUDA));
    } else if (dev != "cpu") {
      throw viscpm::InvalidArgument("unknown device '" + dev + "' (use cpu or cuda)");
    }
    *out = handle.release();
  });
}

void viscpm_parity_free(viscpm_parity_suite* suite) { delete suite; }

int64_t viscpm_parity_case_count(const viscpm_parity_suite* suite) {
  return suite ? static_cast<int64_t>(suite->suite->manifest()["cases"].size()) : 0;
}

viscpm_status viscpm_parity_run(viscpm_parity_suite* suite, int64_t index, char** report_json_out) {
  return guarded([&] {
    auto& s = *require(suite, "parity suite").suite;
    if (!report_json_out) throw viscpm::InvalidArgument("report pointer is null");
    const auto& cases = s.manifest()["cases"];
    if (index < 0 || index >= static_cast<int64_t>(cases.size()))
      throw viscpm::InvalidArgument("case index " + std::to_string(index) + " out of range");
    auto outcome = viscpm::parity::run_case(s, cases[index]);
    json report;
    report["name"] = outcome.name;
    report["kind"] = outcome.kind;
    report["status"] = outcome.status == viscpm::parity::Outcome::Status::kPass   ? "PASS"
                       : outcome.status == viscpm::parity::Outcome::Status::kFail ? "FAIL"
                                                                                  : "SKIP";
    report["summary"] = outcome.summary;
    report["seconds"] = outcome.seconds;
    report["checks"] = json::array();
    for (const auto& c : outcome.checks)
      report["checks"].push_back({{"name", c.name}, {"pass", c.pass}, {"worst", c.worst}, {"where", c.where},
                                  {"detail", c.detail}});
    *report_json_out = copy_string(report.dump(-1, ' ', false, json::error_handler_t::replace));
  });
}

viscpm_status viscpm_parity_kinds(char** kinds_json_out) {
  return guarded([&] {
    if (!kinds_json_out) throw viscpm::InvalidArgument("output pointer is null");
    viscpm::parity::register_builtin_kinds();
    *kinds_json_out = copy_string(json(viscpm::parity::registered_kinds()).dump());
  });
}

void viscpm_string_free(char* s) { std::free(s); }

}  // extern "C"
