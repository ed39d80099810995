// One runner per case kind, each defined next to the code it checks
// (native/src/<concern>/parity_<kind>.cpp). Add a declaration here and a line to
// register_builtin_kinds() in kinds.cpp when a kind is implemented.
#pragma once
#include "parity/parity.h"

namespace viscpm::parity {

void register_builtin_kinds();  // idempotent

void run_checkpoint(const Case& c, Result& r);          // io/parity_checkpoint.cpp
}  // namespace viscpm::parity
