// The data.pkl of a torch.save archive, parsed (never executed) by a small unpickler
// that knows only the opcodes and globals a state dict needs. Also the matching writer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace viscpm::io {

struct PickledTensor {
  std::string name;
  at::ScalarType dtype = at::kFloat;  // from the torch.<X>Storage class
  std::string storage_key;            // the "<key>" of data/<key>
  int64_t storage_numel = 0;          // as declared in the persistent id
  int64_t storage_offset = 0;
  std::vector<int64_t> shape, strides;
};

struct PickledStateDict {
  std::string container_type;  // "OrderedDict" or "dict"
  std::vector<PickledTensor> tensors;  // in pickle order
};

// `where` names the file in error messages. Throws FormatError on anything but a
// mapping from strings to tensors built from the allowed globals.
PickledStateDict parse_state_dict_pickle(const uint8_t* data, size_t size, const std::string& where);

// Protocol-2 pickle of an OrderedDict {name: _rebuild_tensor_v2(storage i, 0, shape,
// contiguous strides)} where tensor i uses storage key "<i>" of dtype `dtypes[i]`.
std::string write_state_dict_pickle(const std::vector<std::string>& names,
                                    const std::vector<at::ScalarType>& dtypes,
                                    const std::vector<std::vector<int64_t>>& shapes);

}  // namespace viscpm::io
