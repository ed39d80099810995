/*
 * VisCPM test kit: the C API of libviscpm_testkit, the library that the CLI, the tests and
 * the benchmarks load beside libviscpm. It holds what users of the runtime do not need:
 * the golden-case runner (fixtures folders in the format of ../shared/fixtures/README.md)
 * and the writers of tiny RANDOM demo models.
 *
 * Same conventions as viscpm.h: statuses (viscpm_status), a per-thread message of the last
 * failure (viscpm_testkit_last_error), create/free pairs, no exception crosses it.
 */
#ifndef VISCPM_TESTKIT_H
#define VISCPM_TESTKIT_H

#include "viscpm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VISCPM_TESTKIT_API __attribute__((visibility("default")))

/* Message of the last failed testkit call on this thread ("" if none). */
VISCPM_TESTKIT_API const char* viscpm_testkit_last_error(void);

/* ------------------------------------------------------------------ demo models */

/* Writes a tiny RANDOM VisCPM-Chat model (real checkpoint format and directory layout,
 * generated vocabulary) to dir. Its answers are noise. */
VISCPM_TESTKIT_API viscpm_status viscpm_testkit_write_demo_chat_model(const char* dir);
/* Writes a tiny RANDOM VisCPM-Paint model (real formats and layout) to dir. */
VISCPM_TESTKIT_API viscpm_status viscpm_testkit_write_demo_paint_model(const char* dir);

/* ------------------------------------------------------------------ golden cases */

typedef enum viscpm_parity_status {
  VISCPM_PARITY_PASS = 0,
  VISCPM_PARITY_FAIL = 1,
  VISCPM_PARITY_SKIP = 2, /* the kind is not implemented by this build */
  VISCPM_PARITY_STATUS_COUNT = 3
} viscpm_parity_status;
/* "PASS", "FAIL", "SKIP"; NULL out of range. */
VISCPM_TESTKIT_API const char* viscpm_parity_status_name(int32_t status);

/* One comparison of a case. Strings are owned by the report. */
typedef struct viscpm_parity_check {
  const char* name;
  int32_t pass;
  double worst;       /* worst absolute error (mismatch count for exact non-float data) */
  const char* where;  /* index of the worst element or path of the first mismatch */
  const char* detail; /* shape mismatch, missing value, ... ("" if none) */
} viscpm_parity_check;

typedef struct viscpm_parity_report {
  const char* name;
  const char* kind;
  int32_t status;      /* viscpm_parity_status */
  const char* summary; /* worst error and where, or why it failed or was skipped */
  double seconds;
  int64_t check_count;
  const viscpm_parity_check* checks;
} viscpm_parity_report;

typedef struct viscpm_parity_suite viscpm_parity_suite;

/* Opens a fixtures folder (its manifest.json) for cases run on `device` ("cpu", "cuda"). */
VISCPM_TESTKIT_API viscpm_status viscpm_parity_open(const char* fixtures_dir, const char* device,
                                                    viscpm_parity_suite** out);
VISCPM_TESTKIT_API void viscpm_parity_free(viscpm_parity_suite* suite);
VISCPM_TESTKIT_API int64_t viscpm_parity_case_count(const viscpm_parity_suite* suite);
/* Name and kind of case `index` in manifest order (owned by the suite); NULL out of range. */
VISCPM_TESTKIT_API const char* viscpm_parity_case_name(const viscpm_parity_suite* suite, int64_t index);
VISCPM_TESTKIT_API const char* viscpm_parity_case_kind(const viscpm_parity_suite* suite, int64_t index);
/* Runs case `index`. A case that fails or throws is a report with status FAIL, not an error
 * status; errors are for bad arguments only. */
VISCPM_TESTKIT_API viscpm_status viscpm_parity_run(viscpm_parity_suite* suite, int64_t index,
                                                   viscpm_parity_report** report_out);
VISCPM_TESTKIT_API void viscpm_parity_report_free(viscpm_parity_report* report);

/* Case kinds this build implements. */
VISCPM_TESTKIT_API int32_t viscpm_parity_kind_count(void);
VISCPM_TESTKIT_API const char* viscpm_parity_kind_name(int32_t index);

#ifdef __cplusplus
}
#endif

#endif /* VISCPM_TESTKIT_H */
