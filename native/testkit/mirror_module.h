// A viscpm::nn::Module whose parameter names are given checkpoint keys ("a.b.c" becomes
// submodule a, submodule b, parameter c). Lets load_module be exercised, and a checkpoint
// be loaded generically, without the real model classes.
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace viscpm::io {

// Parameters are zero-filled, requires_grad false. FormatError when a key is both a
// parameter and the parent of another key, or has an empty segment.
std::shared_ptr<viscpm::nn::Module> make_mirror_module(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& keys, const at::TensorOptions& options);

}  // namespace viscpm::io
