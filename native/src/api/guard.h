// Every C entry point runs its body through guarded(): common/error_boundary.h turns any
// exception into a status, and the message is kept per thread for viscpm_last_error().
#pragma once

#include <string>

#include "common/error_boundary.h"
#include "viscpm.h"

namespace viscpm::api {

// This thread's message for viscpm_last_error().
std::string& last_error();
// Allocates a C string the caller frees with viscpm_string_free.
char* copy_string(const std::string& s);

template <class Body>
viscpm_status guarded(Body&& body) {
  return static_cast<viscpm_status>(viscpm::run_guarded(last_error(), std::forward<Body>(body)));
}

using viscpm::require;

template <class T>
void require_out(T** out) {
  if (!out) throw viscpm::InvalidArgument("output pointer is null");
  *out = nullptr;
}

}  // namespace viscpm::api
