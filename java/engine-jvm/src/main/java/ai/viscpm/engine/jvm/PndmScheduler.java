package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * PNDMScheduler (diffusers v0.15.0, schedulers.md §5): pseudo linear multistep (PLMS) with
 * {@code skip_prk_steps} as in the SD config, or Runge-Kutta warm-up steps (PRK) otherwise.
 * Draws no noise. Keeps the last model outputs between steps ({@link #reset}/{@link #close}
 * free them).
 */
final class PndmScheduler extends Scheduler {
  private final boolean skipPrkSteps;
  private final float finalAlphaCumprod;
  private final String predictionType;
  private final long stepsOffset;
  private long stepRatio = 1;
  private long[] prkTimesteps = new long[0];
  // Step history (held handles).
  private final Deque<Tensor> ets = new ArrayDeque<>();
  private int counter;
  private Tensor curModelOutput, curSample;

  PndmScheduler(SchedulerConfig config) throws VisCpmException {
    resolveConfig(config, params(betaParams(), "skip_prk_steps", false, "set_alpha_to_one", false,
        "prediction_type", "epsilon", "steps_offset", 0));
    initNoiseSchedule(false);
    ConfigReader read = reader();
    skipPrkSteps = read.bool("skip_prk_steps");
    finalAlphaCumprod = read.bool("set_alpha_to_one") ? 1.0f : alphaCumprod(0);
    predictionType = read.choice("prediction_type", "epsilon", "v_prediction");
    stepsOffset = read.integer("steps_offset", 0, numTrainTimesteps - 1);
  }

  @Override
  public String name() {
    return "pndm";
  }

  @Override
  public String className() {
    return "PNDMScheduler";
  }

  @Override
  public void reset() {
    for (Tensor t : ets) drop(t);
    ets.clear();
    counter = 0;
    drop(curModelOutput);
    drop(curSample);
    curModelOutput = null;
    curSample = null;
  }

  @Override
  protected double[] computeTimesteps(int n) throws InvalidInputException {
    stepRatio = numTrainTimesteps / n;
    long[] base = new long[n];  // ascending
    for (int i = 0; i < n; i++) base[i] = i * stepRatio + stepsOffset;
    if (base[n - 1] >= numTrainTimesteps) {
      throw new InvalidInputException("PNDMScheduler: steps_offset " + stepsOffset + " with " + n
          + " steps puts the first timestep past num_train_timesteps");
    }
    List<Long> prk = new ArrayList<>(), plms = new ArrayList<>();  // plms ascending, reversed below
    if (skipPrkSteps) {
      // base[0 .. n-2], base[n-2] again, base[n-1]: the first interval is taken twice.
      for (int i = 0; i < n - 1; i++) plms.add(base[i]);
      if (n >= 2) plms.add(base[n - 2]);
      plms.add(base[n - 1]);
    } else {
      // Runge-Kutta warm-up on the last (highest) `order` base timesteps and their midpoints.
      final int order = 4;
      final long half = stepRatio / 2;
      if (n < order) {
        throw new InvalidInputException("PNDMScheduler: with skip_prk_steps = false the number of inference steps "
            + "must be at least 4, got " + n);
      }
      List<Long> pairs = new ArrayList<>();
      for (int i = n - order; i < n; i++) {
        pairs.add(base[i]);
        pairs.add(base[i] + half);
      }
      List<Long> doubled = new ArrayList<>();  // pairs[:-1].repeat(2)[1:-1]
      for (int i = 0; i + 1 < pairs.size(); i++) {
        doubled.add(pairs.get(i));
        doubled.add(pairs.get(i));
      }
      prk.addAll(doubled.subList(1, doubled.size() - 1));
      Collections.reverse(prk);
      for (int i = 0; i < n - 3; i++) plms.add(base[i]);
    }
    Collections.reverse(plms);
    prkTimesteps = prk.stream().mapToLong(Long::longValue).toArray();
    List<Long> all = new ArrayList<>(prk);
    all.addAll(plms);
    return all.stream().mapToDouble(Long::doubleValue).toArray();
  }

  @Override
  protected StepOutput doStep(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException {
    checkStepInputs(modelOutput, sample, false);
    final long t = integerTimestep(timestep);
    if (counter < prkTimesteps.length && !skipPrkSteps) return new StepOutput(stepPrk(modelOutput, t, sample), null);
    return new StepOutput(stepPlms(modelOutput, t, sample), null);
  }

  private Tensor stepPrk(Tensor modelOutputIn, long t, Tensor sample) throws InvalidInputException {
    final long diffToPrev = counter % 2 != 0 ? 0 : stepRatio / 2;
    final long prevT = t - diffToPrev;
    final long anchorT = prkTimesteps[counter / 4 * 4];
    Tensor modelOutput = modelOutputIn;
    // Runge-Kutta 4 weights 1/6, 1/3, 1/3, 1/6 accumulated over four calls.
    if (counter % 4 == 0) {
      accumulate(modelOutputIn, 1.0 / 6);
      ets.addLast(hold(modelOutputIn));
      drop(curSample);
      curSample = hold(sample);
    } else if ((counter - 1) % 4 == 0 || (counter - 2) % 4 == 0) {
      accumulate(modelOutputIn, 1.0 / 3);
    } else {
      Tensor last = modelOutputIn.mul(new Scalar(1.0 / 6));
      modelOutput = curModelOutput != null ? curModelOutput.add(last) : last;
      drop(curModelOutput);
      curModelOutput = null;
    }
    Tensor start = curSample != null ? curSample : sample;
    Tensor prev = prevSampleFrom(start, anchorT, prevT, modelOutput);
    counter++;
    return prev;
  }

  private void accumulate(Tensor modelOutput, double weight) {
    Tensor term = modelOutput.mul(new Scalar(weight));
    Tensor next = curModelOutput != null ? curModelOutput.add(term) : term;
    drop(curModelOutput);
    curModelOutput = hold(next);
  }

  private Tensor stepPlms(Tensor modelOutputIn, long t, Tensor sampleIn) throws InvalidInputException {
    if (!skipPrkSteps && ets.size() < 3) {
      throw new InvalidInputException("PNDMScheduler: PLMS steps need the 12 Runge-Kutta warm-up steps first "
          + "(call step() on every timestep in order)");
    }
    long prevT = t - stepRatio;
    if (counter != 1) {
      while (ets.size() > 3) drop(ets.pollFirst());
      ets.addLast(hold(modelOutputIn));
    } else {
      prevT = t;  // the second call re-does the first interval from the same sample
      t = t + stepRatio;
    }
    Tensor[] e = ets.toArray(new Tensor[0]);
    final int n = e.length;
    Tensor modelOutput, sample = sampleIn, used = null;
    if (n == 1 && counter == 0) {
      modelOutput = modelOutputIn;
      drop(curSample);
      curSample = hold(sampleIn);
    } else if (n == 1 && counter == 1) {
      modelOutput = modelOutputIn.add(e[0]).div(new Scalar(2L));
      sample = curSample;  // held: dropped once this step has used it
      used = curSample;
      curSample = null;
    } else if (n == 2) {
      modelOutput = e[1].mul(new Scalar(3L)).sub(e[0]).div(new Scalar(2L));
    } else if (n == 3) {
      modelOutput = e[2].mul(new Scalar(23L)).sub(e[1].mul(new Scalar(16L))).add(e[0].mul(new Scalar(5L)))
          .div(new Scalar(12L));
    } else {
      modelOutput = e[n - 1].mul(new Scalar(55L)).sub(e[n - 2].mul(new Scalar(59L))).add(e[n - 3].mul(new Scalar(37L)))
          .sub(e[n - 4].mul(new Scalar(9L))).mul(new Scalar(1.0 / 24));
    }
    Tensor prev = prevSampleFrom(sample, t, prevT, modelOutput);
    drop(used);
    counter++;
    return prev;
  }

  /** Formula (9) of the PNDM paper: x_{t-δ} from x_t and ε. */
  private Tensor prevSampleFrom(Tensor sample, long t, long prevT, Tensor modelOutput) throws InvalidInputException {
    final float alphaProdT = alphaCumprod(t);
    final float alphaProdTPrev = prevT >= 0 ? alphaCumprod(prevT) : finalAlphaCumprod;
    final float betaProdT = 1.0f - alphaProdT, betaProdTPrev = 1.0f - alphaProdTPrev;
    if (predictionType.equals("v_prediction")) {
      modelOutput = modelOutput.mul(s(SchedulerMath.sqrt32(alphaProdT))).add(sample.mul(s(SchedulerMath.sqrt32(betaProdT))));
    }
    final float sampleCoeff = SchedulerMath.sqrt32(alphaProdTPrev / alphaProdT);
    final float denom = alphaProdT * SchedulerMath.sqrt32(betaProdTPrev)
        + SchedulerMath.sqrt32(alphaProdT * betaProdT * alphaProdTPrev);
    return sample.mul(s(sampleCoeff)).sub(modelOutput.mul(s(alphaProdTPrev - alphaProdT)).div(s(denom)));
  }
}
