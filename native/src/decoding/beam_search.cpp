#include "decoding/beam_search.h"

#include "common/error.h"
#include "decoding/logits_processor.h"
#include "decoding/text_stream.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/zeros.h>

#include "common/host_read.h"

#include <algorithm>
#include <cmath>

namespace viscpm::decoding {
namespace {

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

// The answers of the live rows as backpointers: step s holds, per row, the word chosen at
// that step and the row it continued. One entry per row and step; nothing is copied when
// rows are reordered, an answer is rebuilt only when it is needed (a finished hypothesis,
// streaming).
class BeamHistory {
 public:
  BeamHistory(int64_t beams, int64_t max_steps) : beams_(beams) {
    words_.reserve(static_cast<size_t>(beams * max_steps));
    parents_.reserve(static_cast<size_t>(beams * max_steps));
  }
  int64_t steps() const { return static_cast<int64_t>(words_.size()) / beams_; }
  // Appends one step: row r continued row parents[r] with words[r].
  void push(const std::vector<int32_t>& words, const std::vector<int64_t>& parents) {
    words_.insert(words_.end(), words.begin(), words.end());
    for (int64_t p : parents) parents_.push_back(static_cast<int32_t>(p));
  }
  // The answer of live row `row` (steps() words).
  std::vector<int32_t> answer(int64_t row) const {
    std::vector<int32_t> out(static_cast<size_t>(steps()));
    for (int64_t s = steps() - 1; s >= 0; --s) {
      out[static_cast<size_t>(s)] = words_[static_cast<size_t>(s * beams_ + row)];
      row = parents_[static_cast<size_t>(s * beams_ + row)];
    }
    return out;
  }

 private:
  int64_t beams_;
  std::vector<int32_t> words_, parents_;
};

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
  if (spec.bos_id < 0 || spec.bos_id >= width) throw InvalidArgument("beam search: BOS id outside the logits");
  for (int32_t id : spec.ext_ids)
    if (id < 0 || id >= width) throw InvalidArgument("beam search: ext table id " + std::to_string(id) + " outside the logits");
  const LogitsProcessor processor(spec, config.temperature, config.repetition_penalty, device);
  const int64_t last_step = config.max_length + 1;  // M: every candidate of this step finishes
  const int64_t candidates = std::min<int64_t>(2 * beams, beams * width);
  const int64_t ranked = std::min<int64_t>(candidates + 1, beams * width);  // +1: the gap report

  // Host side: the tokens to feed, the scores, the backpointers. Device side (allocated
  // once for the longest answer): the ids each row was fed (repetition penalty), the scores.
  std::vector<FedToken> next(static_cast<size_t>(beams), FedToken{spec.bos_id, 0, 0});
  std::vector<float> scores(static_cast<size_t>(beams), -1e9f);
  scores[0] = 0.0f;  // only the first row expands at the first step
  BeamHistory history(beams, last_step + 2);
  at::Tensor fed_ids = at::zeros({beams, last_step + 2}, at::TensorOptions().dtype(at::kLong).device(device));
  at::Tensor beam_scores = at::tensor(scores, at::kFloat).to(device);
  at::Tensor previous_top_values;
  FinishedHypotheses finished(beams, config.length_penalty);
  TextStream stream(spec, callbacks);
  GenerationResult result;

  // The step's inputs in one transfer: ids, subs, positions, parent rows, candidate ranks.
  auto upload = [&](const std::vector<int64_t>& parents, const std::vector<int64_t>& ranks) {
    std::vector<std::vector<int64_t>> fields(5, std::vector<int64_t>(static_cast<size_t>(beams)));
    for (int64_t r = 0; r < beams; ++r) {
      fields[0][r] = next[r].id;
      fields[1][r] = next[r].sub;
      fields[2][r] = next[r].position;
      fields[3][r] = parents[r];
      fields[4][r] = ranks[r];
    }
    return upload_rows(fields, device);
  };
  at::Tensor feed = upload(std::vector<int64_t>(static_cast<size_t>(beams), 0),
                           std::vector<int64_t>(static_cast<size_t>(beams), 0));

  auto record_step = [&](int64_t i, const std::vector<float>& beam_scores_host, const std::vector<FedToken>& tokens,
                         int64_t segment) {
    if (!trace) return;
    BeamSearchTrace::Step s;
    s.i = i;
    for (size_t r = 0; r < tokens.size(); ++r) {
      s.beam_scores.push_back(beam_scores_host[r]);
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
    for (int64_t r = 0; r < beams; ++r) possible.push_back(history.answer(r));
    for (const auto& e : finished.entries()) possible.push_back(without_final_eos(e.ans, spec.eos_id));
    stream.emit_common_prefix(possible);
  };

  for (int64_t i = 0; i <= last_step; ++i) {
    check_cancelled(callbacks);
    record_step(i, scores, next, trace ? trace->answer_segment : 0);
    const at::Tensor ids = feed[0];
    if (i > 0) {  // rows continue their parents: penalty state and scores follow
      at::Tensor history_ids = fed_ids.narrow(1, 0, i);
      history_ids.copy_(history_ids.index_select(0, feed[3]));
      beam_scores = previous_top_values.index_select(0, feed[4]);
    }
    fed_ids.select(1, i).copy_(ids);
    const at::Tensor logits = stepper.step(StepTokens{ids, feed[1], feed[2]});
    ++result.model_steps;
    const at::Tensor log_probs = processor.log_probs(logits, fed_ids.narrow(1, 0, i + 1));
    const at::Tensor flat = log_probs.add(beam_scores.unsqueeze(1)).view({-1});
    auto [top_values, top_indices] = at::topk(flat, ranked, 0, /*largest=*/true, /*sorted=*/true);
    previous_top_values = top_values;
    // The one read of the step: the ranked scores and their flat indices (exact as doubles).
    const at::Tensor ranked_host = read_to_host(at::cat({top_values.to(at::kDouble), top_indices.to(at::kDouble)}));
    const double* packed = ranked_host.data_ptr<double>();
    std::vector<float> values(static_cast<size_t>(ranked));
    std::vector<int64_t> indices(static_cast<size_t>(ranked));
    for (int64_t k = 0; k < ranked; ++k) {
      values[k] = static_cast<float>(packed[k]);
      indices[k] = static_cast<int64_t>(packed[ranked + k]);
    }

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
        record_step(i + 1, std::vector<float>(static_cast<size_t>(beams), 0.0f),
                    std::vector<FedToken>(static_cast<size_t>(beams), FedToken{}), 0);
      break;
    }

    std::vector<FedToken> next_tokens;
    std::vector<float> next_scores;
    std::vector<int64_t> parents, ranks;
    std::vector<int32_t> words;
    for (int64_t k = 0; k < candidates; ++k) {
      const int64_t beam = indices[k] / width;
      const auto word = static_cast<int32_t>(indices[k] % width);
      if (word == spec.eos_id || i == last_step) {
        std::vector<int32_t> ans = history.answer(beam);
        ans.push_back(word);
        const double score = finished.add(ans, values[k]);
        if (trace) {
          trace->hypotheses_added.push_back(
              {i, std::vector<int64_t>(ans.begin(), ans.end()), static_cast<double>(values[k]), score});
        }
      } else {
        next_tokens.push_back(token_for_output(spec, word, next[static_cast<size_t>(beam)].position + 1));
        next_scores.push_back(values[k]);
        parents.push_back(beam);
        ranks.push_back(k);
        words.push_back(word);
      }
      if (static_cast<int64_t>(next_tokens.size()) == beams) break;
    }
    if (i == last_step) break;
    if (static_cast<int64_t>(next_tokens.size()) != beams)
      throw std::logic_error("beam search: fewer than beam_size continuations among the candidates");
    next = std::move(next_tokens);
    scores = std::move(next_scores);
    history.push(words, parents);
    feed = upload(parents, ranks);
    stepper.reorder(feed[3]);
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
