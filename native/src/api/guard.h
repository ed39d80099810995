// Every C entry point runs its body through guarded(): common/error_boundary.h turns any
// exception into a status, and the message is kept per thread for viscpm_last_error().
#pragma once

#include <string>

#include "common/error_boundary.h"
#include "viscpm.h"

namespace viscpm::api {

void set_last_error(const std::string& message);
void clear_last_error();
// Allocates a C string the caller frees with viscpm_string_free.
char* copy_string(const std::string& s);

template <class Body>
viscpm_status guarded(Body&& body) {
  clear_last_error();
  auto error = viscpm::catch_all(std::forward<Body>(body));
  if (!error) return VISCPM_OK;
  set_last_error(error->message);
  return static_cast<viscpm_status>(static_cast<int>(error->code));
}

template <class T>
T& require(T* handle, const char* what) {
  if (!handle) throw viscpm::InvalidArgument(std::string(what) + " is null (closed or never opened)");
  return *handle;
}

template <class T>
void require_out(T** out) {
  if (!out) throw viscpm::InvalidArgument("output pointer is null");
  *out = nullptr;
}

}  // namespace viscpm::api
