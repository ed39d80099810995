// Streams answer text to GenerationCallbacks::on_text as it becomes final: the decoders
// report which output ids can no longer change, this turns the new ones into text.
#pragma once

#include "decoding/decoding.h"

#include <cstdint>
#include <vector>

namespace viscpm::decoding {

class TextStream {
 public:
  TextStream(const DecodeSpec& spec, const GenerationCallbacks& callbacks);

  bool active() const { return active_; }
  // Emits the ids beyond those already emitted that every list in `possible` shares.
  void emit_common_prefix(const std::vector<std::vector<int32_t>>& possible);
  // Emits the ids of `answer` beyond those already emitted (they are final).
  void emit(const std::vector<int32_t>& answer);
  // The final answer ids (EOS removed): emits what is still missing.
  void finish(const std::vector<int32_t>& answer) { emit(answer); }

 private:
  const DecodeSpec& spec_;
  const GenerationCallbacks& callbacks_;
  bool active_;
  std::vector<int32_t> emitted_;
};

}  // namespace viscpm::decoding
