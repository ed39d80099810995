#include "parity/kinds.h"

#include <mutex>

namespace viscpm::parity {

void register_builtin_kinds() {
  static std::once_flag once;
  std::call_once(once, [] {
#if VISCPM_HAS_IO
    register_kind("checkpoint", run_checkpoint);
#endif
  });
}

}  // namespace viscpm::parity
