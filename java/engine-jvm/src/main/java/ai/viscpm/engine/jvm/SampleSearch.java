package ai.viscpm.engine.jvm;

import ai.viscpm.CancelledException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Greedy decoding and top-k/top-p sampling on one row, as the native engine's
 * {@code sample_search} (native/src/decoding/sampling.cpp), which the reference does not have:
 * per step the disallowed columns to -10000, the repetition penalty on the distinct fed ids,
 * the temperature (sampling only), the fp32 log-softmax rounded to the logits' dtype; greedy
 * takes the first largest column, sampling draws one uniform double from a LibTorch CPU
 * generator seeded with the request's seed (the native engine's draws) and picks from the top-k
 * (or all, stably sorted) columns whose probabilities before them stay under top-p. At most
 * {@code maxLength} tokens; EOS ends the answer and counts.
 */
public final class SampleSearch {
  private SampleSearch() {}

  /** The settings; {@code greedy} ignores the temperature, topK, topP and seed. */
  public record Settings(boolean greedy, int maxLength, double temperature, double repetitionPenalty, int topK,
                         double topP, long seed) {}

  public static BeamSearch.Result run(BeamSearch.Stepper stepper, BeamSearch.Spec spec, Settings settings,
      BooleanSupplier shouldContinue, BeamSearch.FinalIds finalIds) throws VisCpmException {
    if (stepper.rows() != 1) throw new InvalidInputException("sample search needs a one-row model state");
    final long width = spec.width();
    final double temperature = settings.greedy() ? 1.0 : settings.temperature();
    try (PointerScope outer = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      long[] disallowedIds = spec.disallowedColumns();
      Tensor disallowed = Torch.longs(disallowedIds, disallowedIds.length);
      Scalar fill = new Scalar(-10000.0), penalty = new Scalar(settings.repetitionPenalty());
      Scalar temp = new Scalar(temperature), zero = new Scalar(0.0);
      Generator generator = torch.createCPUGenerator(settings.seed());
      GeneratorOptional draws = new GeneratorOptional(generator);

      List<Integer> tokens = new ArrayList<>();
      List<Long> fed = new ArrayList<>();
      double sumLogprobs = 0;
      boolean eos = false;
      int modelSteps = 0;
      long nextId = spec.bosId(), nextSub = 0, nextPos = 0;
      for (int n = 0; n < settings.maxLength(); n++) {
        if (shouldContinue != null && !shouldContinue.getAsBoolean()) throw new CancelledException("cancelled");
        fed.add(nextId);
        int word;
        float logprob;
        try (PointerScope scope = new PointerScope()) {
          Tensor logits = stepper.step(new long[] {nextId}, new long[] {nextSub}, new long[] {nextPos});
          modelSteps++;
          Tensor l = disallowedIds.length == 0 ? logits.clone() : logits.index_fill(1, disallowed, fill);
          if (settings.repetitionPenalty() != 1.0) {
            long[] ids = fed.stream().mapToLong(Long::longValue).toArray();
            Tensor index = Torch.longs(ids, 1, ids.length);
            Tensor v = l.gather(1, index);
            l.scatter_(1, index, torch.where(v.lt(zero), v.mul(penalty), v.div(penalty)));
          }
          l = l.div(temp);
          Tensor lp = torch.log_softmax(l.to(ScalarType.Float), -1);
          if (Torch.typeOf(logits) != ScalarType.Float) lp = lp.to(Torch.typeOf(logits)).to(ScalarType.Float);
          Tensor row = lp.select(0, 0).contiguous();
          float[] values = new float[(int) width];
          Torch.floatBuffer(row).get(values);
          if (settings.greedy()) {
            word = 0;
            for (int k = 1; k < values.length; k++) {
              if (values[k] > values[word]) word = k;
            }
          } else {
            word = sample(row, settings.topK(), settings.topP(), uniform(draws));
          }
          logprob = values[word];
        }
        sumLogprobs += logprob;
        tokens.add(word);
        if (word == spec.eosId()) {
          eos = true;
          break;
        }
        if (finalIds != null) finalIds.accept(tokens.stream().mapToInt(Integer::intValue).toArray());
        if (word < spec.vocabSize()) {
          nextId = word;
          nextSub = 0;
        } else {
          nextId = spec.extIds()[(int) (word - spec.vocabSize())];
          nextSub = spec.extSubs()[(int) (word - spec.vocabSize())];
        }
        nextPos++;
      }
      int[] ids = tokens.stream().mapToInt(Integer::intValue).toArray();
      return new BeamSearch.Result(ids, eos, sumLogprobs, sumLogprobs, modelSteps);
    }
  }

  /** One uniform double in [0, 1) from the generator (LibTorch's uniform_real_distribution, as the native draw). */
  private static double uniform(GeneratorOptional generator) {
    Tensor u = torch.rand(new long[] {1}, generator, Torch.options(ScalarType.Double));
    return Torch.toDoubles(u)[0];
  }

  /** The native {@code sample_column}: the index of the column chosen for the draw {@code u}. */
  private static int sample(Tensor logProbs, int topK, double topP, double u) {
    final long width = logProbs.size(0);
    T_TensorTensor_T sorted = topK > 0 && topK < width ? torch.topk(logProbs, topK, 0, true, true)
        : torch.sort(logProbs, new org.bytedeco.pytorch.BoolOptional(true), 0, true);
    Tensor probs = torch.softmax(sorted.get0(), 0, new org.bytedeco.pytorch.ScalarTypeOptional());
    final int n = (int) probs.size(0);
    float[] p = new float[n];
    Torch.floatBuffer(probs.contiguous()).get(p);
    long[] indices = new long[n];
    double[] idx = Torch.toDoubles(sorted.get1().to(ScalarType.Double));
    for (int k = 0; k < n; k++) indices[k] = (long) idx[k];
    int keep = n;
    if (topP < 1.0) {
      float[] csum = new float[n];
      Torch.floatBuffer(probs.cumsum(0).contiguous()).get(csum);
      int count = 0;
      for (int k = 0; k < n; k++) {
        if (csum[k] - p[k] < (float) topP) count++;
      }
      keep = Math.max(1, count);
      for (int k = keep; k < n; k++) p[k] = 0f;
    }
    double[] cdf = new double[n];
    double acc = 0;
    for (int k = 0; k < n; k++) {
      acc += (double) p[k];
      cdf[k] = acc;
    }
    double threshold = cdf[n - 1] * u;
    int below = 0;
    for (int k = 0; k < n; k++) {
      if (cdf[k] <= threshold) below++;
    }
    return (int) indices[Math.min(below, keep - 1)];
  }
}
