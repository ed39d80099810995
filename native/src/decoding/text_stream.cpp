#include "decoding/text_stream.h"

#include <algorithm>
#include <stdexcept>

namespace viscpm::decoding {

TextStream::TextStream(const DecodeSpec& spec, const GenerationCallbacks& callbacks)
    : spec_(spec), callbacks_(callbacks), active_(static_cast<bool>(callbacks.on_text) && static_cast<bool>(spec.text)) {}

void TextStream::emit_common_prefix(const std::vector<std::vector<int32_t>>& possible) {
  if (!active_ || possible.empty()) return;
  const auto& first = possible.front();
  size_t common = first.size();
  for (const auto& ids : possible) {
    size_t n = 0;
    const size_t limit = std::min(common, ids.size());
    while (n < limit && ids[n] == first[n]) ++n;
    common = n;
  }
  if (common <= emitted_.size()) return;
  emit(std::vector<int32_t>(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(common)));
}

void TextStream::emit(const std::vector<int32_t>& answer) {
  if (!active_ || answer.size() <= emitted_.size()) return;
  // What was emitted is final by construction; a mismatch is a decoder bug.
  if (!std::equal(emitted_.begin(), emitted_.end(), answer.begin()))
    throw std::logic_error("text stream: the answer does not extend the text already streamed");
  std::vector<int32_t> fresh(answer.begin() + static_cast<std::ptrdiff_t>(emitted_.size()), answer.end());
  emitted_ = answer;
  const std::string text = spec_.text(fresh);
  if (!text.empty()) callbacks_.on_text(text);
}

}  // namespace viscpm::decoding
