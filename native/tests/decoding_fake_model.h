// A deterministic stand-in for CPM-Bee in decoder tests: each row's logits are a pseudo-
// random function of the tokens that row was fed, with optional per-token biases, so
// reordering rows and the decoders' bookkeeping can be checked without a real model.
#pragma once

#include "decoding/decoding.h"

#include <ATen/core/Tensor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/empty.h>

#include <functional>
#include <string>
#include <vector>

namespace viscpm::testing {

class FakeStepper : public decoding::TokenStepper {
 public:
  FakeStepper(int64_t rows, int64_t width, uint64_t seed = 7) : width_(width), seed_(seed), history_(rows) {}

  int64_t rows() const override { return static_cast<int64_t>(history_.size()); }
  // CPU tensors only: the fake reads them through data_ptr (not a counted device read).
  at::Tensor step(const decoding::StepTokens& tokens) override {
    ++calls;
    at::Tensor logits = at::empty({rows(), width_}, at::kFloat);
    const at::Tensor ids = tokens.ids.contiguous(), pos = tokens.positions.contiguous();
    for (size_t r = 0; r < history_.size(); ++r) {
      history_[r].push_back(static_cast<int32_t>(ids.data_ptr<int64_t>()[r]));
      positions.push_back(pos.data_ptr<int64_t>()[r]);
      uint64_t h = seed_;
      for (int32_t id : history_[r]) h = h * 1000003u + static_cast<uint64_t>(id) + 1;
      at::Generator gen = at::detail::createCPUGenerator(h);
      logits[static_cast<int64_t>(r)].normal_(0.0, 2.0, gen);
      if (bias) bias(history_[r], logits[static_cast<int64_t>(r)]);
    }
    return logits;
  }
  void reorder(const at::Tensor& parents) override {
    std::vector<std::vector<int32_t>> next;
    const at::Tensor p = parents.contiguous();
    for (int64_t r = 0; r < p.numel(); ++r) next.push_back(history_.at(static_cast<size_t>(p.data_ptr<int64_t>()[r])));
    history_ = std::move(next);
  }

  // Adjusts a row's logits given what it was fed (e.g. force EOS after n tokens).
  std::function<void(const std::vector<int32_t>& fed, at::Tensor row)> bias;
  int64_t calls = 0;
  std::vector<int64_t> positions;

 private:
  int64_t width_;
  uint64_t seed_;
  std::vector<std::vector<int32_t>> history_;
};

// A decode spec over `vocab` plain tokens: id i decodes to "<i>" style text "t<i> ".
inline decoding::DecodeSpec fake_spec(int64_t vocab, std::vector<int32_t> ext_ids = {}, std::vector<int32_t> ext_subs = {}) {
  decoding::DecodeSpec spec;
  spec.vocab_size = vocab;
  spec.ext_ids = std::move(ext_ids);
  spec.ext_subs = std::move(ext_subs);
  spec.bos_id = 6;
  spec.eos_id = 7;
  spec.unk_id = 1;
  spec.text = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += "t" + std::to_string(id) + " ";
    return s;
  };
  return spec;
}

}  // namespace viscpm::testing
