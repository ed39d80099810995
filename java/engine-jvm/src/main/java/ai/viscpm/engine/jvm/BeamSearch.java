package ai.viscpm.engine.jvm;

import ai.viscpm.CancelledException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The reference's chat decoder (chat.md §4) over any {@link Stepper}: B rows, scores
 * {@code [0, -1e9, ...]}; per step: feed, disallowed columns to -10000, the repetition
 * penalty on the distinct ids each row was fed (BOS and ext class ids included), the
 * temperature, log-softmax in fp32 (rounded to the logits' dtype), + the row score (fp32),
 * the top 2B over all rows, the done test with the step index before the candidates are
 * used, EOS (or the step {@code i == max_length + 1}) finishing a hypothesis scored
 * {@code sum / len^length_penalty}, the B best finished kept, the best by score. Row
 * bookkeeping (answers, fed ids, scores) is on the host; the logits stay tensors until the
 * one read per step (the ranked candidates).
 */
public final class BeamSearch {
  private BeamSearch() {}

  /** The model side: one token per row in, that row's next-token logits {@code [rows, V']} out. */
  public interface Stepper {
    int rows();

    /** Logits {@code [rows, V']} (the caller's scope owns them). */
    Tensor step(long[] ids, long[] subs, long[] positions) throws VisCpmException;

    /** New row r continues old row {@code parents[r]}. */
    void reorder(long[] parents) throws VisCpmException;
  }

  /**
   * The settings (chat.md §1).
   *
   * @param maxLength the reference's max_length: answers have at most max_length + 2 tokens
   */
  public record Settings(int beamSize, int maxLength, double temperature, double repetitionPenalty,
                         double lengthPenalty) {
    public static Settings reference() {
      return new Settings(3, 512, 0.7, 1.1, 3.0);
    }

    public Settings {
      if (beamSize < 1) throw new IllegalArgumentException("beam_size must be at least 1");
      if (maxLength < 0) throw new IllegalArgumentException("max_length must not be negative");
      if (!(temperature > 0)) throw new IllegalArgumentException("temperature must be positive");
      if (!(repetitionPenalty >= 1)) throw new IllegalArgumentException("repetition_penalty must be at least 1");
    }
  }

  /**
   * What the decoder knows about the request (input-format.md §6).
   *
   * @param generatable keys of the decoding table (UNK and ext columns they name may be generated)
   */
  public record Spec(long vocabSize, long[] extIds, long[] extSubs, long[] generatable, int bosId, int eosId, int unkId) {
    long width() {
      return vocabSize + extIds.length;
    }

    /** Columns no step may choose (step 2): UNK unless the decoding table maps it, unmapped ext columns. */
    long[] disallowedColumns() {
      java.util.Set<Long> mapped = new java.util.HashSet<>();
      for (long id : generatable) mapped.add(id);
      List<Long> columns = new ArrayList<>();
      if (unkId >= 0 && unkId < vocabSize && !mapped.contains((long) unkId)) columns.add((long) unkId);
      for (long e = vocabSize; e < width(); e++) {
        if (!mapped.contains(e)) columns.add(e);
      }
      return columns.stream().mapToLong(Long::longValue).toArray();
    }
  }

  /** The chosen answer: output ids with a final EOS when it ended with one. */
  public record Result(int[] tokenIds, boolean endedWithEos, double sumLogprobs, double score, int modelSteps) {
    public int[] answerIds() {
      return endedWithEos ? Arrays.copyOf(tokenIds, tokenIds.length - 1) : tokenIds.clone();
    }
  }

  /** The fixture-shaped record of a search (fixtures README, chat_beam_search). */
  public static final class Trace {
    public record Step(long i, double[] beamScores, long[] tokenIds, long[] tokenSubs, long[] positions,
                       long[] segments) {}

    public record TopK(long i, double[] scores, long[] flatIds, double minGap) {}

    public record Hypothesis(long i, long[] tokenIds, double sumLogprobs, double score) {}

    public long answerSegment;
    public final List<Step> steps = new ArrayList<>();
    public final List<TopK> topk = new ArrayList<>();
    public final List<Hypothesis> hypothesesAdded = new ArrayList<>();
  }

  /** The reference's BeamHypotheses (§4.4). */
  private static final class Finished {
    record Entry(double score, double sumLogprobs, int[] ans) {}

    final int capacity;
    final double lengthPenalty;
    double worst = 1e9;
    final List<Entry> entries = new ArrayList<>();

    Finished(int capacity, double lengthPenalty) {
      this.capacity = capacity;
      this.lengthPenalty = lengthPenalty;
    }

    double add(int[] ans, double sumLogprobs) {
      double score = sumLogprobs / Math.pow(ans.length, lengthPenalty);
      if (entries.size() < capacity || score > worst) {
        entries.add(new Entry(score, sumLogprobs, ans));
        if (entries.size() > capacity) {
          // Lowest score out (earliest on ties, a stable sort); worst = the next lowest.
          List<Integer> order = new ArrayList<>();
          for (int k = 0; k < entries.size(); k++) order.add(k);
          order.sort(Comparator.comparingDouble(k -> entries.get(k).score()));
          double nextWorst = entries.get(order.get(1)).score();
          entries.remove((int) order.get(0));
          worst = nextWorst;
        } else {
          worst = Math.min(worst, score);
        }
      }
      return score;
    }

    boolean isDone(double bestCandidate, long step) {
      if (entries.size() < capacity) return false;
      return worst >= bestCandidate / Math.pow(step, lengthPenalty);
    }

    Entry best() {
      Entry best = entries.get(0);
      for (Entry e : entries) {
        if (e.score() > best.score()) best = e;
      }
      return best;
    }
  }

  /** Hears the output ids that can no longer change (streaming): each call extends the previous one. */
  @FunctionalInterface
  public interface FinalIds {
    void accept(int[] ids) throws VisCpmException;
  }

  /**
   * Runs the search on a stepper whose prompt is prefilled in every row.
   *
   * @param trace optional, receives every step, candidate list and finished hypothesis
   * @param shouldContinue optional, polled before every model call; false cancels
   */
  public static Result run(Stepper stepper, Spec spec, Settings settings, Trace trace, BooleanSupplier shouldContinue)
      throws VisCpmException {
    return run(stepper, spec, settings, trace, shouldContinue, null);
  }

  /**
   * {@link #run(Stepper, Spec, Settings, Trace, BooleanSupplier)}, and after every step
   * {@code finalIds} (optional) hears the prefix every still-possible answer shares (live rows
   * and finished hypotheses, a final EOS left out), as the native decoder streams it.
   */
  public static Result run(Stepper stepper, Spec spec, Settings settings, Trace trace, BooleanSupplier shouldContinue,
      FinalIds finalIds) throws VisCpmException {
    final int beams = settings.beamSize();
    final long width = spec.width();
    if (stepper.rows() != beams) {
      throw new InvalidInputException("beam search: the model has " + stepper.rows() + " rows for " + beams + " beams");
    }
    if (width < 2) throw new InvalidInputException("beam search needs at least two logit columns");
    final long lastStep = settings.maxLength() + 1L;  // M: every candidate of this step finishes
    final int candidates = (int) Math.min(2L * beams, beams * width);
    final int ranked = (int) Math.min(candidates + 1L, beams * width);  // +1: the gap report

    try (PointerScope outer = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      long[] disallowedIds = spec.disallowedColumns();
      Tensor disallowed = Torch.longs(disallowedIds, disallowedIds.length);
      Scalar fill = new Scalar(-10000.0), penalty = new Scalar(settings.repetitionPenalty());
      Scalar temperature = new Scalar(settings.temperature()), zero = new Scalar(0.0);
      ScalarTypeOptional float32 = new ScalarTypeOptional(ScalarType.Float);

      long[] nextIds = new long[beams], nextSubs = new long[beams], nextPos = new long[beams];
      Arrays.fill(nextIds, spec.bosId());
      float[] scores = new float[beams];
      Arrays.fill(scores, -1e9f);
      scores[0] = 0.0f;
      List<List<Integer>> answers = new ArrayList<>();
      List<List<Long>> fed = new ArrayList<>();
      for (int r = 0; r < beams; r++) {
        answers.add(new ArrayList<>());
        fed.add(new ArrayList<>());
      }
      Finished finished = new Finished(beams, settings.lengthPenalty());
      int modelSteps = 0;

      for (long i = 0; i <= lastStep; i++) {
        if (shouldContinue != null && !shouldContinue.getAsBoolean()) throw new CancelledException("cancelled");
        if (trace != null) recordStep(trace, i, scores, nextIds, nextSubs, nextPos, trace.answerSegment);
        long[] flatIds = new long[ranked];
        float[] values = new float[ranked];
        try (PointerScope scope = new PointerScope()) {
          for (int r = 0; r < beams; r++) fed.get(r).add(nextIds[r]);
          Tensor logits = stepper.step(nextIds, nextSubs, nextPos);
          modelSteps++;
          // Steps 2-5: mask, repetition penalty, temperature, fp32 log-softmax rounded to the dtype.
          Tensor l = disallowedIds.length == 0 ? logits.clone() : logits.index_fill(1, disallowed, fill);
          if (settings.repetitionPenalty() != 1.0) {
            long[] fedIds = new long[beams * (int) (i + 1)];
            for (int r = 0; r < beams; r++) {
              for (int t = 0; t <= i; t++) fedIds[r * (int) (i + 1) + t] = fed.get(r).get(t);
            }
            Tensor index = Torch.longs(fedIds, beams, i + 1);
            Tensor v = l.gather(1, index);  // gathered before any write: repeats write the same value
            l.scatter_(1, index, torch.where(v.lt(zero), v.mul(penalty), v.div(penalty)));
          }
          l = l.div(temperature);
          Tensor lp = torch.log_softmax(l.to(ScalarType.Float), -1);
          if (Torch.typeOf(logits) != ScalarType.Float) lp = lp.to(Torch.typeOf(logits)).to(ScalarType.Float);
          Tensor flat = lp.add(Torch.floats(scores, beams).unsqueeze(1)).view(-1);
          T_TensorTensor_T top = torch.topk(flat, ranked, 0, true, true);
          double[] packed = Torch.toDoubles(Torch.cat(0, top.get0().to(ScalarType.Double), top.get1().to(ScalarType.Double)));
          for (int k = 0; k < ranked; k++) {
            values[k] = (float) packed[k];
            flatIds[k] = (long) packed[ranked + k];
          }
        }
        if (trace != null) {
          double[] s = new double[candidates];
          long[] ids = new long[candidates];
          double gap = Double.POSITIVE_INFINITY;
          for (int k = 0; k < candidates; k++) {
            s[k] = values[k];
            ids[k] = flatIds[k];
          }
          for (int k = 0; k + 1 < ranked; k++) gap = Math.min(gap, (double) values[k] - (double) values[k + 1]);
          trace.topk.add(new Trace.TopK(i, s, ids, gap));
        }

        // Done test before this step's candidates are looked at: they are discarded.
        if (finished.isDone(values[0], i)) {
          // The reference feeds one more step of placeholder tokens; it changes nothing.
          if (i < lastStep && trace != null) {
            recordStep(trace, i + 1, new float[beams], new long[beams], new long[beams], new long[beams], 0);
          }
          break;
        }

        long[] newIds = new long[beams], newSubs = new long[beams], newPos = new long[beams], parents = new long[beams];
        float[] newScores = new float[beams];
        List<List<Integer>> newAnswers = new ArrayList<>();
        int made = 0;
        for (int k = 0; k < candidates; k++) {
          int beam = (int) (flatIds[k] / width);
          int word = (int) (flatIds[k] % width);
          if (word == spec.eosId() || i == lastStep) {
            int[] ans = new int[answers.get(beam).size() + 1];
            for (int t = 0; t < ans.length - 1; t++) ans[t] = answers.get(beam).get(t);
            ans[ans.length - 1] = word;
            double score = finished.add(ans, values[k]);
            if (trace != null) {
              trace.hypothesesAdded.add(new Trace.Hypothesis(i, Arrays.stream(ans).asLongStream().toArray(),
                  values[k], score));
            }
          } else {
            if (word < spec.vocabSize()) {
              newIds[made] = word;
              newSubs[made] = 0;
            } else {
              newIds[made] = spec.extIds()[(int) (word - spec.vocabSize())];
              newSubs[made] = spec.extSubs()[(int) (word - spec.vocabSize())];
            }
            newPos[made] = nextPos[beam] + 1;
            newScores[made] = values[k];
            parents[made] = beam;
            List<Integer> ans = new ArrayList<>(answers.get(beam));
            ans.add(word);
            newAnswers.add(ans);
            made++;
          }
          if (made == beams) break;
        }
        if (i == lastStep) break;
        if (made != beams) throw new IllegalStateException("beam search: fewer than beam_size continuations among the candidates");
        List<List<Long>> newFed = new ArrayList<>();
        for (int r = 0; r < beams; r++) newFed.add(new ArrayList<>(fed.get((int) parents[r])));
        fed = newFed;
        answers = newAnswers;
        nextIds = newIds;
        nextSubs = newSubs;
        nextPos = newPos;
        scores = newScores;
        stepper.reorder(parents);
        if (finalIds != null) finalIds.accept(commonPrefix(answers, finished, spec.eosId()));
      }

      Finished.Entry best = finished.best();
      int[] ids = best.ans();
      boolean eos = ids.length > 0 && ids[ids.length - 1] == spec.eosId();
      return new Result(ids.clone(), eos, best.sumLogprobs(), best.score(), modelSteps);
    }
  }

  /** The ids every live answer and every finished hypothesis (its final EOS left out) starts with. */
  private static int[] commonPrefix(List<List<Integer>> answers, Finished finished, int eosId) {
    List<int[]> possible = new ArrayList<>();
    for (List<Integer> a : answers) possible.add(a.stream().mapToInt(Integer::intValue).toArray());
    for (Finished.Entry e : finished.entries) {
      int[] ans = e.ans();
      boolean eos = ans.length > 0 && ans[ans.length - 1] == eosId;
      possible.add(eos ? Arrays.copyOf(ans, ans.length - 1) : ans);
    }
    if (possible.isEmpty()) return new int[0];
    int[] first = possible.get(0);
    int common = first.length;
    for (int[] ids : possible) {
      int n = 0, limit = Math.min(common, ids.length);
      while (n < limit && ids[n] == first[n]) n++;
      common = n;
    }
    return Arrays.copyOf(first, common);
  }

  private static void recordStep(Trace trace, long i, float[] scores, long[] ids, long[] subs, long[] positions,
      long segment) {
    double[] s = new double[scores.length];
    long[] segs = new long[scores.length];
    for (int r = 0; r < s.length; r++) {
      s[r] = scores[r];
      segs[r] = segment;
    }
    trace.steps.add(new Trace.Step(i, s, ids.clone(), subs.clone(), positions.clone(), segs));
  }
}
