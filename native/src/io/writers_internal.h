// Writer knobs the public header does not expose (used by the tests).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace viscpm::io {

// save_torch_zip, optionally with ZIP64 records although nothing needs them, so that the
// reader's ZIP64 path is exercised without writing 4 GiB.
void save_torch_zip_with(const std::filesystem::path& path,
                         const std::vector<std::pair<std::string, at::Tensor>>& tensors, bool force_zip64);

}  // namespace viscpm::io
