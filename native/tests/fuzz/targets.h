// Registration of the targets (one add_* per file) and their fuzz_one functions, which the
// libFuzzer entry point and the tests call by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz.h"

namespace viscpm::fuzz {

void add_checkpoint_targets(std::vector<Target>& out);
void add_image_targets(std::vector<Target>& out);
void add_text_targets(std::vector<Target>& out);
void add_config_targets(std::vector<Target>& out);

int fuzz_torch_zip(const uint8_t* data, size_t size);
int fuzz_torch_zip_crc(const uint8_t* data, size_t size);
int fuzz_pickle(const uint8_t* data, size_t size);
int fuzz_safetensors(const uint8_t* data, size_t size);
int fuzz_image(const uint8_t* data, size_t size);
int fuzz_tokenizer(const uint8_t* data, size_t size);
int fuzz_vocab(const uint8_t* data, size_t size);
int fuzz_structured_input(const uint8_t* data, size_t size);
int fuzz_model_config(const uint8_t* data, size_t size);

}  // namespace viscpm::fuzz
