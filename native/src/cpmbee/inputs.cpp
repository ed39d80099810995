#include "cpmbee/inputs.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include "common/error.h"
#include "common/tensor_text.h"

#include <sstream>

namespace viscpm::cpmbee {

namespace {

bool is_integral_or_bool(const at::Tensor& t) {
  return at::isIntegralType(t.scalar_type(), /*includeBool=*/true);
}

// A [B, L] integer field -> int64 on device.
at::Tensor field(const at::Tensor& t, const char* name, int64_t batch, int64_t len, at::Device device) {
  if (!t.defined()) throw InvalidArgument(std::string("CPM-Bee input \"") + name + "\" is missing");
  if (!is_integral_or_bool(t))
    throw InvalidArgument(std::string("CPM-Bee input \"") + name + "\" must be an integer tensor, got " +
                          std::string(c10::toString(t.scalar_type())));
  if (t.dim() != 2 || t.size(0) != batch || t.size(1) != len)
    throw InvalidArgument(std::string("CPM-Bee input \"") + name + "\" must have shape [" + std::to_string(batch) +
                          ", " + std::to_string(len) + "] like input_ids, got " + shape_string(t));
  return t.to(device, at::kLong);
}

void check_ids(const at::Tensor& ids, int64_t vocab_size, const char* name) {
  if (ids.numel() == 0) return;
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  if (lo < 0 || hi >= vocab_size)
    throw InvalidArgument(std::string("CPM-Bee input \"") + name + "\" holds token id " +
                          std::to_string(lo < 0 ? lo : hi) + " outside the vocabulary [0, " +
                          std::to_string(vocab_size) + ")");
}

}  // namespace

TokenFields TokenFields::expand_rows(int64_t rows) const {
  auto e = [rows](const at::Tensor& t) { return t.expand({rows, t.size(1)}); };
  return {e(ids), e(subs), e(positions), e(context), e(sample_ids), e(num_segments), e(segments), e(rel_offset), e(span)};
}

TokenFields prepare_tokens(const CpmBeeInputs& in, int64_t vocab_size, at::Device device, Pass pass) {
  if (!in.input_ids.defined()) throw InvalidArgument("CPM-Bee input \"input_ids\" is missing");
  if (in.input_ids.dim() != 2)
    throw InvalidArgument("CPM-Bee input \"input_ids\" must have shape [batch, length], got " +
                          shape_string(in.input_ids));
  const int64_t batch = in.input_ids.size(0), len = in.input_ids.size(1);
  if (batch == 0) throw InvalidArgument("CPM-Bee input has an empty batch");
  TokenFields f;
  f.ids = field(in.input_ids, "input_ids", batch, len, device);
  f.subs = field(in.input_id_subs, "input_id_subs", batch, len, device);
  f.context = field(in.context, "context", batch, len, device).ne(0);
  f.sample_ids = field(in.sample_ids, "sample_ids", batch, len, device);
  f.num_segments = field(in.num_segments, "num_segments", batch, len, device);
  f.segments = field(in.segment_ids, "segment_ids", batch, len, device);
  f.rel_offset = field(in.segment_rel_offset, "segment_rel_offset", batch, len, device);
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor arange = at::arange(len, longs).unsqueeze(0).expand({batch, len});
  if (pass == Pass::kFull) {
    f.positions = arange;  // the full pass ignores supplied positions (§7.1)
    f.span = in.span.defined() ? field(in.span, "span", batch, len, device) : at::zeros({batch, len}, longs);
  } else {
    f.positions = in.positions.defined() ? field(in.positions, "positions", batch, len, device) : arange;
    f.span = at::zeros({batch, len}, longs);
  }
  check_ids(f.ids, vocab_size, "input_ids");
  return f;
}

std::pair<at::Tensor, at::Tensor> prepare_ext_table(const at::Tensor& ids, const at::Tensor& subs,
                                                    int64_t vocab_size, at::Device device) {
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  if (!ids.defined() || ids.numel() == 0) {
    if (subs.defined() && subs.numel() != 0)
      throw InvalidArgument("CPM-Bee ext table: ext_table_sub has " + std::to_string(subs.numel()) +
                            " entries but ext_table_ids is empty");
    return {at::empty({0}, longs), at::empty({0}, longs)};
  }
  if (!subs.defined() || ids.dim() != 1 || subs.dim() != 1 || ids.size(0) != subs.size(0))
    throw InvalidArgument("CPM-Bee ext table: ext_table_ids " + shape_string(ids) + " and ext_table_sub " +
                          shape_string(subs) + " must be 1-D of equal length");
  if (!is_integral_or_bool(ids) || !is_integral_or_bool(subs))
    throw InvalidArgument("CPM-Bee ext table must hold integers");
  at::Tensor i = ids.to(device, at::kLong), s = subs.to(device, at::kLong);
  check_ids(i, vocab_size, "ext_table_ids");
  return {i, s};
}

at::Tensor prepare_segment_rel(const at::Tensor& segment_rel, int64_t batch, at::Device device) {
  if (!segment_rel.defined()) throw InvalidArgument("CPM-Bee input \"segment_rel\" is missing");
  if (!is_integral_or_bool(segment_rel) || segment_rel.dim() != 2 || segment_rel.size(0) != batch ||
      segment_rel.size(1) == 0)
    throw InvalidArgument("CPM-Bee input \"segment_rel\" must be a non-empty integer tensor [" +
                          std::to_string(batch) + ", R], got " + shape_string(segment_rel));
  return segment_rel.to(device, at::kLong);
}

at::Tensor splice_image_states(at::Tensor embeddings, const at::Tensor& image_bound, const at::Tensor& states) {
  if (embeddings.dim() != 3) throw InvalidArgument("splice: embeddings must be [B, L, D], got " + shape_string(embeddings));
  const int64_t batch = embeddings.size(0), len = embeddings.size(1), dim = embeddings.size(2);
  at::Tensor bound = image_bound.to(at::kCPU, at::kLong).reshape({-1, 2});
  if (bound.size(0) != batch && bound.size(0) != 1)
    throw InvalidArgument("splice: image_bound " + shape_string(image_bound) + " must hold one [begin, end) per row (" +
                          std::to_string(batch) + " rows)");
  at::Tensor st = states.dim() == 2 ? states.unsqueeze(0) : states;
  if (st.dim() != 3 || (st.size(0) != batch && st.size(0) != 1) || st.size(2) != dim)
    throw InvalidArgument("splice: image states " + shape_string(states) + " must be [B, n, " + std::to_string(dim) + "]");
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t begin = bound[bound.size(0) == 1 ? 0 : b][0].item<int64_t>();
    const int64_t end = bound[bound.size(0) == 1 ? 0 : b][1].item<int64_t>();
    at::Tensor rows = st[st.size(0) == 1 ? 0 : b];
    if (begin < 0 || end > len || end - begin != rows.size(0))
      throw InvalidArgument("splice: image bound [" + std::to_string(begin) + ", " + std::to_string(end) +
                            ") does not fit " + std::to_string(rows.size(0)) + " image states into " +
                            std::to_string(len) + " tokens");
    embeddings[b].narrow(0, begin, end - begin).copy_(rows);
  }
  return embeddings;
}

}  // namespace viscpm::cpmbee
