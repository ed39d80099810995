// Helpers shared by the text parity runners.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "testkit/parity/parity.h"
#include "text/tokenizer.h"

namespace viscpm::text {

// The case's vocabulary (params.vocab, else the manifest's "vocab"), loaded once per suite.
std::shared_ptr<Tokenizer> parity_tokenizer(const parity::Case& c);

// Compares every expected tensor of the case with the produced one of the same name;
// an expected name that was not produced fails.
void compare_all_expected(const parity::Case& c, parity::Result& r, const std::map<std::string, at::Tensor>& actual);

}  // namespace viscpm::text
