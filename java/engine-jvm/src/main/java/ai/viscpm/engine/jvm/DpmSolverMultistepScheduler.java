package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * DPMSolverMultistepScheduler (diffusers v0.15.0, schedulers.md §8): DPM-Solver(++) with
 * multistep updates of order 1-3; the SD default is DPM-Solver++ 2M (midpoint), whose last step
 * goes to t = 0. Draws no noise. Keeps the last {@code solver_order} converted model outputs.
 */
final class DpmSolverMultistepScheduler extends Scheduler {
  private final int solverOrder;
  private final String predictionType;
  private final boolean thresholding, dataPrediction, midpoint, lowerOrderFinal, useKarrasSigmas;
  private final double thresholdRatio, sampleMaxValue;
  private final float[] alpha, sigma, lambda;
  // Step history: the last `solver_order` converted model outputs, oldest first (null: none yet).
  private final Tensor[] modelOutputs;
  private int lowerOrderNums;

  DpmSolverMultistepScheduler(SchedulerConfig config) throws VisCpmException {
    resolveConfig(config, params(betaParams(), "solver_order", 2, "prediction_type", "epsilon", "thresholding", false,
        "dynamic_thresholding_ratio", 0.995, "sample_max_value", 1.0, "algorithm_type", "dpmsolver++",
        "solver_type", "midpoint", "lower_order_final", true, "use_karras_sigmas", false));
    initNoiseSchedule(false);
    ConfigReader read = reader();
    solverOrder = (int) read.integer("solver_order", 1, 3);
    predictionType = read.choice("prediction_type", "epsilon", "sample", "v_prediction");
    thresholding = read.bool("thresholding");
    thresholdRatio = read.numberIn("dynamic_thresholding_ratio", 0.0, 1.0);
    sampleMaxValue = read.number("sample_max_value");
    // v0.15.0 maps the names of related solvers onto its own and records the substitute.
    String algorithm = read.choice("algorithm_type", "dpmsolver", "dpmsolver++", "deis");
    if (algorithm.equals("deis")) {
      algorithm = "dpmsolver++";
      effectiveConfig.put("algorithm_type", algorithm);
    }
    String solver = read.choice("solver_type", "midpoint", "heun", "logrho", "bh1", "bh2");
    if (!solver.equals("midpoint") && !solver.equals("heun")) {
      solver = "midpoint";
      effectiveConfig.put("solver_type", solver);
    }
    dataPrediction = algorithm.equals("dpmsolver++");
    midpoint = solver.equals("midpoint");
    lowerOrderFinal = read.bool("lower_order_final");
    useKarrasSigmas = read.bool("use_karras_sigmas");
    modelOutputs = new Tensor[solverOrder];

    // α_t = sqrt(ᾱ), σ_t = sqrt(1 - ᾱ), λ_t = log α_t - log σ_t, float32 as the reference.
    final int n = alphasCumprod.length;
    alpha = new float[n];
    sigma = new float[n];
    for (int i = 0; i < n; i++) {
      alpha[i] = SchedulerMath.sqrt32(alphasCumprod[i]);
      sigma[i] = SchedulerMath.sqrt32(1.0f - alphasCumprod[i]);
    }
    float[] logAlpha = SchedulerMath.log32(alpha), logSigma = SchedulerMath.log32(sigma);
    lambda = new float[n];
    for (int i = 0; i < n; i++) lambda[i] = logAlpha[i] - logSigma[i];
  }

  @Override
  public String name() {
    return "dpmsolver_multistep";
  }

  @Override
  public String className() {
    return "DPMSolverMultistepScheduler";
  }

  @Override
  public void reset() {
    if (modelOutputs == null) return;  // during construction
    for (int i = 0; i < modelOutputs.length; i++) {
      drop(modelOutputs[i]);
      modelOutputs[i] = null;
    }
    lowerOrderNums = 0;
  }

  @Override
  protected double[] computeTimesteps(int n) {
    List<Long> timesteps = new ArrayList<>();
    final int last = numTrainTimesteps - 1;
    if (useKarrasSigmas) {
      float[] trainSigmas = SchedulerMath.trainingSigmas(alphasCumprod);
      float[] logSigmas = SchedulerMath.log32(trainSigmas);
      // v0.15.0 passes the ascending table, so the ramp runs from the smallest sigma up; the
      // timesteps are flipped afterwards.
      double[] sigmas = SchedulerMath.karrasSigmas(trainSigmas[trainSigmas.length - 1], trainSigmas[0], n);
      for (int i = sigmas.length - 1; i >= 0; i--) {
        timesteps.add((long) SchedulerMath.npRound(SchedulerMath.sigmaToT(sigmas[i], logSigmas)));
      }
    } else {
      // round(linspace(0, T-1, n+1)) reversed, last (0) dropped.
      double[] points = SchedulerMath.npLinspace(0.0, (double) last, n + 1);
      for (int i = n; i >= 1; i--) timesteps.add((long) SchedulerMath.npRound(points[i]));
    }
    List<Long> unique = new ArrayList<>();  // first occurrences, in order
    for (long t : timesteps) if (!unique.contains(t)) unique.add(t);
    return unique.stream().mapToDouble(Long::doubleValue).toArray();
  }

  @Override
  protected StepOutput doStep(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException {
    checkStepInputs(modelOutput, sample, false);
    final int index = indexOf(timestep), count = timestepValues.length;
    final int t = (int) integerTimestep(timestep);
    final int prevT = index == count - 1 ? 0 : (int) timestepValues[index + 1];
    final boolean finalStep = index == count - 1 && lowerOrderFinal && count < 15;
    final boolean secondToLast = index == count - 2 && lowerOrderFinal && count < 15;

    Tensor converted = convert(modelOutput, t, sample);
    drop(modelOutputs[0]);
    System.arraycopy(modelOutputs, 1, modelOutputs, 0, solverOrder - 1);
    modelOutputs[solverOrder - 1] = hold(converted);

    Tensor prev;
    if (solverOrder == 1 || lowerOrderNums < 1 || finalStep) {
      prev = firstOrder(converted, t, prevT, sample);
    } else if (solverOrder == 2 || lowerOrderNums < 2 || secondToLast) {
      prev = secondOrder(t, (int) timestepValues[index - 1], prevT, sample);
    } else {
      prev = thirdOrder(t, (int) timestepValues[index - 1], (int) timestepValues[index - 2], prevT, sample);
    }
    if (lowerOrderNums < solverOrder) lowerOrderNums++;
    return new StepOutput(prev, null);
  }

  /** DPM-Solver++ works on the data prediction x0, DPM-Solver on the noise prediction ε. */
  private Tensor convert(Tensor modelOutput, int t, Tensor sample) {
    final float a = alpha[t], sg = sigma[t];
    if (dataPrediction) {
      Tensor x0 = switch (predictionType) {
        case "epsilon" -> sample.sub(modelOutput.mul(s(sg))).div(s(a));
        case "sample" -> modelOutput;
        default -> sample.mul(s(a)).sub(modelOutput.mul(s(sg)));
      };
      return thresholding ? SchedulerMath.thresholdSample(x0, thresholdRatio, sampleMaxValue) : x0;
    }
    return switch (predictionType) {
      case "epsilon" -> modelOutput;
      case "sample" -> sample.sub(modelOutput.mul(s(a))).div(s(sg));
      default -> modelOutput.mul(s(a)).add(sample.mul(s(sg)));
    };
  }

  private Tensor firstOrder(Tensor m, int s, int t, Tensor sample) {
    final float h = lambda[t] - lambda[s];
    if (dataPrediction) {
      return sample.mul(s(sigma[t] / sigma[s])).sub(m.mul(s(alpha[t] * ((float) Math.exp(-h) - 1.0f))));
    }
    return sample.mul(s(alpha[t] / alpha[s])).sub(m.mul(s(sigma[t] * ((float) Math.exp(h) - 1.0f))));
  }

  private Tensor secondOrder(int s0, int s1, int t, Tensor sample) {
    final Tensor m0 = modelOutputs[solverOrder - 1], m1 = modelOutputs[solverOrder - 2];
    final float h = lambda[t] - lambda[s0], h0 = lambda[s0] - lambda[s1];
    final float r0 = h0 / h;
    Tensor d1 = m0.sub(m1).mul(s(1.0f / r0));
    if (dataPrediction) {
      final float e = (float) Math.exp(-h) - 1.0f;
      Tensor x = sample.mul(s(sigma[t] / sigma[s0])).sub(m0.mul(s(alpha[t] * e)));
      if (midpoint) return x.sub(d1.mul(s(0.5f * (alpha[t] * e))));
      return x.add(d1.mul(s(alpha[t] * (e / h + 1.0f))));
    }
    final float e = (float) Math.exp(h) - 1.0f;
    Tensor x = sample.mul(s(alpha[t] / alpha[s0])).sub(m0.mul(s(sigma[t] * e)));
    if (midpoint) return x.sub(d1.mul(s(0.5f * (sigma[t] * e))));
    return x.sub(d1.mul(s(sigma[t] * (e / h - 1.0f))));
  }

  private Tensor thirdOrder(int s0, int s1, int s2, int t, Tensor sample) {
    final int n = modelOutputs.length;
    final Tensor m0 = modelOutputs[n - 1], m1 = modelOutputs[n - 2], m2 = modelOutputs[n - 3];
    final float h = lambda[t] - lambda[s0], h0 = lambda[s0] - lambda[s1], h1 = lambda[s1] - lambda[s2];
    final float r0 = h0 / h, r1 = h1 / h;
    Tensor d10 = m0.sub(m1).mul(s(1.0f / r0)), d11 = m1.sub(m2).mul(s(1.0f / r1));
    Tensor d1 = d10.add(d10.sub(d11).mul(s(r0 / (r0 + r1))));
    Tensor d2 = d10.sub(d11).mul(s(1.0f / (r0 + r1)));
    if (dataPrediction) {
      final float e = (float) Math.exp(-h) - 1.0f;
      return sample.mul(s(sigma[t] / sigma[s0])).sub(m0.mul(s(alpha[t] * e))).add(d1.mul(s(alpha[t] * (e / h + 1.0f))))
          .sub(d2.mul(s(alpha[t] * ((e + h) / (h * h) - 0.5f))));
    }
    final float e = (float) Math.exp(h) - 1.0f;
    return sample.mul(s(alpha[t] / alpha[s0])).sub(m0.mul(s(sigma[t] * e))).sub(d1.mul(s(sigma[t] * (e / h - 1.0f))))
        .sub(d2.mul(s(sigma[t] * ((e - h) / (h * h) - 0.5f))));
  }
}
