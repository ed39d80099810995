package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** DDPMScheduler (diffusers v0.15.0, schedulers.md §3), the VisCPM-Paint default. */
final class DdpmScheduler extends Scheduler {
  private final String varianceType, predictionType;
  private final boolean clipSample, thresholding;
  private final double thresholdRatio, clipSampleRange, sampleMaxValue;
  private long stepRatio = 1;

  DdpmScheduler(SchedulerConfig config) throws VisCpmException {
    resolveConfig(config, params(betaParams(), "variance_type", "fixed_small", "clip_sample", true,
        "prediction_type", "epsilon", "thresholding", false, "dynamic_thresholding_ratio", 0.995,
        "clip_sample_range", 1.0, "sample_max_value", 1.0));
    initNoiseSchedule(true);
    ConfigReader read = reader();
    varianceType = read.choice("variance_type", "fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log",
        "learned", "learned_range");
    if (varianceType.equals("fixed_large_log")) {
      // v0.15.0 takes the square root of log(beta) < 0 here: every noisy step is NaN.
      throw new UnsupportedFeatureException("DDPMScheduler: variance_type fixed_large_log produces NaN samples in "
          + "diffusers v0.15.0 and is not supported");
    }
    clipSample = read.bool("clip_sample");
    predictionType = read.choice("prediction_type", "epsilon", "sample", "v_prediction");
    thresholding = read.bool("thresholding");
    thresholdRatio = read.numberIn("dynamic_thresholding_ratio", 0.0, 1.0);
    clipSampleRange = read.number("clip_sample_range");
    sampleMaxValue = read.number("sample_max_value");
  }

  @Override
  public String name() {
    return "ddpm";
  }

  @Override
  public String className() {
    return "DDPMScheduler";
  }

  @Override
  protected double[] computeTimesteps(int n) {
    // v0.15.0: [(n-1)k, ..., k, 0] with k = T // n; DDPM takes no steps_offset.
    stepRatio = numTrainTimesteps / n;
    double[] t = new double[n];
    for (int i = 0; i < n; i++) t[i] = (double) ((n - 1 - i) * stepRatio);
    return t;
  }

  @Override
  protected StepOutput doStep(Tensor modelOutputIn, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException {
    final boolean learned = varianceType.equals("learned") || varianceType.equals("learned_range");
    checkStepInputs(modelOutputIn, sample, learned);
    final long t = integerTimestep(timestep);
    Tensor modelOutput = modelOutputIn, predictedVariance = null;
    if (learned && modelOutputIn.size(1) == 2 * sample.size(1)) {
      TensorVector parts = torch.split(modelOutputIn, sample.size(1), 1);
      modelOutput = parts.get(0);
      predictedVariance = parts.get(1);
    } else if (learned) {
      throw new InvalidInputException("DDPMScheduler: variance_type " + varianceType
          + " needs a model output with twice the sample's channels");
    }
    // The step's scalars in float32, as the reference's 0-d tensors.
    final long prevT = t - stepRatio;
    final float alphaProdT = alphaCumprod(t);
    final float alphaProdTPrev = prevT >= 0 ? alphaCumprod(prevT) : 1.0f;
    final float betaProdT = 1.0f - alphaProdT, betaProdTPrev = 1.0f - alphaProdTPrev;
    final float currentAlphaT = alphaProdT / alphaProdTPrev, currentBetaT = 1.0f - currentAlphaT;

    Tensor predOriginal;
    if (predictionType.equals("epsilon")) {
      predOriginal = sample.sub(modelOutput.mul(s(SchedulerMath.sqrt32(betaProdT)))).div(s(SchedulerMath.sqrt32(alphaProdT)));
    } else if (predictionType.equals("sample")) {
      predOriginal = modelOutput;
    } else {  // v_prediction
      predOriginal = sample.mul(s(SchedulerMath.sqrt32(alphaProdT))).sub(modelOutput.mul(s(SchedulerMath.sqrt32(betaProdT))));
    }
    if (thresholding) {
      predOriginal = SchedulerMath.thresholdSample(predOriginal, thresholdRatio, sampleMaxValue);
    } else if (clipSample) {
      predOriginal = predOriginal.clamp(new ScalarOptional(new Scalar(-clipSampleRange)),
          new ScalarOptional(new Scalar(clipSampleRange)));
    }
    final float originalCoeff = (SchedulerMath.sqrt32(alphaProdTPrev) * currentBetaT) / betaProdT;
    final float currentCoeff = SchedulerMath.sqrt32(currentAlphaT) * betaProdTPrev / betaProdT;
    Tensor prev = predOriginal.mul(s(originalCoeff)).add(sample.mul(s(currentCoeff)));

    if (t > 0) {  // no draw at the last step
      Tensor z = noise.randn(Torch.shape(modelOutput), Torch.typeOf(modelOutput));
      // fixed_small variance: (1 - ᾱ_prev) / (1 - ᾱ_t) * β_t, floored at 1e-20.
      float variance = Math.max(betaProdTPrev / betaProdT * currentBetaT, 1e-20f);
      Tensor noiseTerm = switch (varianceType) {
        case "fixed_small" -> z.mul(s(SchedulerMath.sqrt32(variance)));
        case "fixed_small_log" -> z.mul(s((float) Math.exp(0.5f * (float) Math.log(variance))));
        case "fixed_large" -> z.mul(s(SchedulerMath.sqrt32(currentBetaT)));
        case "learned" -> predictedVariance.pow(new Scalar(0.5)).mul(z);
        default -> {  // learned_range: interpolate log variances with the predicted fraction
          Tensor frac = predictedVariance.add(new Scalar(1.0)).div(new Scalar(2.0));
          Tensor logVariance = frac.mul(s((float) Math.log(currentBetaT)))
              .add(frac.neg().add(new Scalar(1.0)).mul(s((float) Math.log(variance))));
          yield torch.exp(logVariance.mul(new Scalar(0.5))).mul(z);
        }
      };
      prev = prev.add(noiseTerm);
    }
    return new StepOutput(prev, predOriginal);
  }
}
