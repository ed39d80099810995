#include "decoding/beam_search.h"

#include "common/error.h"
#include "decoding/logits_processor.h"
#include "decoding/text_stream.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/topk.h>

#include <algorithm>
#include <cmath>

namespace viscpm::decoding {
namespace {

struct BeamRow {
  std::vector<int32_t> fed;  // ids fed since the answer started (BOS, class ids of ext tokens)
  std::vector<int32_t> ans;  // chosen output ids (raw logit indices)
  FedToken next;             // token to feed at the next step
};

// The reference's BeamHypotheses (chat.md §4.4): at most `capacity` entries, `worst`
// starting at 1e9, ties on removal broken by insertion order.
class FinishedHypotheses {
 public:
  FinishedHypotheses(int64_t capacity, double length_penalty) : capacity_(capacity), length_penalty_(length_penalty) {}

  struct Entry {
    double score;
    double sum_logprobs;
    std::vector<int32_t> ans;
  };

  // Returns the score the hypothesis was given (whether or not it was kept).
  double add(std::vector<int32_t> ans, double sum_logprobs) {
    const double score = sum_logprobs / std::pow(static_cast<double>(ans.size()), length_penalty_);
    if (static_cast<int64_t>(entries_.size()) < capacity_ || score > worst_) {
      entries_.push_back({score, sum_logprobs, std::move(ans)});
      if (static_cast<int64_t>(entries_.size()) > capacity_) {
        // Remove the lowest score (earliest on ties); worst = the next lowest.
        std::vector<size_t> order(entries_.size());
        for (size_t k = 0; k < order.size(); ++k) order[k] = k;
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return entries_[a].score < entries_[b].score; });
        const double next_worst = entries_[order[1]].score;
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(order[0]));
        worst_ = next_worst;
      } else {
        worst_ = std::min(worst_, score);
      }
    }
    return score;
  }

  // The heuristic done test with the step index in place of a length (chat.md §4.5).
  bool is_done(double best_candidate, int64_t step) const {
    if (static_cast<int64_t>(entries_.size()) < capacity_) return false;
    return worst_ >= best_candidate / std::pow(static_cast<double>(step), length_penalty_);
  }

  const std::vector<Entry>& entries() const { return entries_; }

  // Highest score, first in list order on ties.
  const Entry& best() const {
    size_t best = 0;
    for (size_t k = 1; k < entries_.size(); ++k)
      if (entries_[k].score > entries_[best].score) best = k;
    return entries_.at(best);
  }

 private:
  int64_t capacity_;
  double length_penalty_;
  double worst_ = 1e9;
  std::vector<Entry> entries_;
};

FedToken token_for_output(const DecodeSpec& spec, int32_t w, int64_t position) {
  if (w < spec.vocab_size) return {w, 0, position};
  const size_t e = static_cast<size_t>(w - spec.vocab_size);
  return {spec.ext_ids.at(e), spec.ext_subs.at(e), position};
}

std::vector<int32_t> without_final_eos(const std::vector<int32_t>& ids, int32_t eos) {
  if (!ids.empty() && ids.back() == eos) return {ids.begin(), ids.end() - 1};
  return ids;
}

}  // namespace

GenerationResult beam_search(TokenStepper& stepper, const DecodeSpec& spec, const GenerationConfig& config,
                             at::Device device, const GenerationCallbacks& callbacks, BeamSearchTrace* trace) {
  config.validate();
  c10::InferenceMode guard;
  const int64_t beams = config.beam_size;
  const int64_t width = spec.logit_width();
  if (stepper.rows() != beams)
    throw InvalidArgument("beam search: the model has " + std::to_string(stepper.rows()) + " rows for " +
                          std::to_string(beams) + " beams");
  if (width < 2) throw InvalidArgument("beam search needs at least two logit columns");
  const LogitsProcessor processor(spec, config.temperature, config.repetition_penalty, device);
  const int64_t last_step = config.max_length + 1;  // M: every candidate of this step finishes
  const int64_t candidates = std::min<int64_t>(2 * beams, beams * width);
  const int64_t ranked = std::min<int64_t>(candidates + 1, beams * width);  // +1: the gap report

  std::vector<BeamRow> rows(static_cast<size_t>(beams), BeamRow{{}, {}, FedToken{spec.bos_id, 0, 0}});
  std::vector<float> scores(static_cast<size_t>(beams), -1e9f);
  scores[0] = 0.0f;  // only the first row expands at the first step
  FinishedHypotheses finished(beams, config.length_penalty);
  TextStream stream(spec, callbacks);
  GenerationResult result;

  auto record_step = [&](int64_t i, const std::vector<float>& beam_scores, const std::vector<FedToken>& tokens,
                         int64_t segment) {
    if (!trace) return;
    BeamSearchTrace::Step s;
    s.i = i;
    for (size_t r = 0; r < tokens.size(); ++r) {
      s.beam_scores.push_back(beam_scores[r]);
      s.token_ids.push_back(tokens[r].id);
      s.token_subs.push_back(tokens[r].sub);
      s.positions.push_back(tokens[r].position);
      s.segments.push_back(segment);
    }
    trace->steps.push_back(std::move(s));
  };
  // The text every still-possible answer shares: live rows and finished hypotheses.
  auto stream_common_prefix = [&] {
    if (!stream.active()) return;
    std::vector<std::vector<int32_t>> possible;
    for (const auto& r : rows) possible.push_back(r.ans);
    for (const auto& e : finished.entries()) possible.push_back(without_final_eos(e.ans, spec.eos_id));
    stream.emit_common_prefix(possible);
  };

  for (int64_t i = 0; i <= last_step; ++i) {
    check_cancelled(callbacks);
    std::vector<FedToken> tokens;
    std::vector<std::vector<int32_t>> fed;
    for (auto& r : rows) {
      r.fed.push_back(r.next.id);
      tokens.push_back(r.next);
      fed.push_back(r.fed);
    }
    record_step(i, scores, tokens, trace ? trace->answer_segment : 0);
    const at::Tensor logits = stepper.step(tokens);
    ++result.model_steps;
    const at::Tensor log_probs = processor.log_probs(logits, fed);
    const at::Tensor beam_scores = at::tensor(scores, at::kFloat).to(log_probs.device());
    const at::Tensor flat = log_probs.add(beam_scores.unsqueeze(1)).view({-1});
    auto [top_values, top_indices] = at::topk(flat, ranked, 0, /*largest=*/true, /*sorted=*/true);
    const at::Tensor values_cpu = top_values.cpu(), indices_cpu = top_indices.to(at::kLong).cpu();
    const float* values = values_cpu.data_ptr<float>();
    const int64_t* indices = indices_cpu.data_ptr<int64_t>();

    if (trace) {
      BeamSearchTrace::TopK t;
      t.i = i;
      for (int64_t k = 0; k < candidates; ++k) {
        t.scores.push_back(values[k]);
        t.flat_ids.push_back(indices[k]);
      }
      t.min_gap = INFINITY;
      for (int64_t k = 0; k + 1 < ranked; ++k)
        t.min_gap = std::min(t.min_gap, static_cast<double>(values[k]) - static_cast<double>(values[k + 1]));
      trace->topk.push_back(std::move(t));
    }

    // Done test before this step's candidates are looked at: they are discarded.
    if (finished.is_done(static_cast<double>(values[0]), i)) {
      // The reference feeds one more step of placeholder tokens; it changes nothing.
      if (i < last_step)
        record_step(i + 1, std::vector<float>(rows.size(), 0.0f), std::vector<FedToken>(rows.size(), FedToken{}), 0);
      break;
    }

    std::vector<BeamRow> next_rows;
    std::vector<float> next_scores;
    std::vector<int64_t> parents;
    for (int64_t k = 0; k < candidates; ++k) {
      const int64_t beam = indices[k] / width;
      const auto word = static_cast<int32_t>(indices[k] % width);
      const BeamRow& parent = rows[static_cast<size_t>(beam)];
      std::vector<int32_t> ans = parent.ans;
      ans.push_back(word);
      if (word == spec.eos_id || i == last_step) {
        const double score = finished.add(ans, values[k]);
        if (trace) {
          trace->hypotheses_added.push_back(
              {i, std::vector<int64_t>(ans.begin(), ans.end()), static_cast<double>(values[k]), score});
        }
      } else {
        next_rows.push_back(BeamRow{parent.fed, std::move(ans), token_for_output(spec, word, parent.next.position + 1)});
        next_scores.push_back(values[k]);
        parents.push_back(beam);
      }
      if (static_cast<int64_t>(next_rows.size()) == beams) break;
    }
    if (i == last_step) break;
    if (static_cast<int64_t>(next_rows.size()) != beams)
      throw std::logic_error("beam search: fewer than beam_size continuations among the candidates");
    rows = std::move(next_rows);
    scores = std::move(next_scores);
    stepper.reorder(parents);
    stream_common_prefix();
  }

  const auto& best = finished.best();
  result.token_ids = best.ans;
  result.ended_with_eos = !best.ans.empty() && best.ans.back() == spec.eos_id;
  result.sum_logprobs = best.sum_logprobs;
  result.score = best.score;
  stream.finish(result.answer_ids());
  return result;
}

}  // namespace viscpm::decoding
