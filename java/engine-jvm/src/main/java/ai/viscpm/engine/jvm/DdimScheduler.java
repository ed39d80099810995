package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;

/** DDIMScheduler (diffusers v0.15.0, schedulers.md §4); deterministic for eta = 0 (the default). */
final class DdimScheduler extends Scheduler {
  private final String predictionType;
  private final boolean clipSample, thresholding;
  private final float finalAlphaCumprod;
  private final long stepsOffset;
  private final double thresholdRatio, clipSampleRange, sampleMaxValue;
  private long stepRatio = 1;

  DdimScheduler(SchedulerConfig config) throws VisCpmException {
    resolveConfig(config, params(betaParams(), "clip_sample", true, "set_alpha_to_one", true, "steps_offset", 0,
        "prediction_type", "epsilon", "thresholding", false, "dynamic_thresholding_ratio", 0.995,
        "clip_sample_range", 1.0, "sample_max_value", 1.0));
    initNoiseSchedule(false);
    ConfigReader read = reader();
    clipSample = read.bool("clip_sample");
    // The "previous" ᾱ of the last step: 1, or ᾱ_0 as in the SD config.
    finalAlphaCumprod = read.bool("set_alpha_to_one") ? 1.0f : alphaCumprod(0);
    stepsOffset = read.integer("steps_offset", 0, numTrainTimesteps - 1);
    predictionType = read.choice("prediction_type", "epsilon", "sample", "v_prediction");
    thresholding = read.bool("thresholding");
    thresholdRatio = read.numberIn("dynamic_thresholding_ratio", 0.0, 1.0);
    clipSampleRange = read.number("clip_sample_range");
    sampleMaxValue = read.number("sample_max_value");
  }

  @Override
  public String name() {
    return "ddim";
  }

  @Override
  public String className() {
    return "DDIMScheduler";
  }

  @Override
  protected double[] computeTimesteps(int n) throws InvalidInputException {
    stepRatio = numTrainTimesteps / n;
    double[] t = new double[n];
    for (int i = 0; i < n; i++) t[i] = (double) ((n - 1 - i) * stepRatio + stepsOffset);
    if (t[0] >= numTrainTimesteps) {
      throw new InvalidInputException("DDIMScheduler: steps_offset " + stepsOffset + " with " + n
          + " steps puts the first timestep past num_train_timesteps");
    }
    return t;
  }

  @Override
  protected StepOutput doStep(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException {
    checkStepInputs(modelOutput, sample, false);
    final long t = integerTimestep(timestep), prevT = t - stepRatio;
    final float alphaProdT = alphaCumprod(t);
    final float alphaProdTPrev = prevT >= 0 ? alphaCumprod(prevT) : finalAlphaCumprod;
    final float betaProdT = 1.0f - alphaProdT;
    final float sqrtA = SchedulerMath.sqrt32(alphaProdT), sqrtB = SchedulerMath.sqrt32(betaProdT);

    Tensor predOriginal, predEpsilon;
    if (predictionType.equals("epsilon")) {
      predOriginal = sample.sub(modelOutput.mul(s(sqrtB))).div(s(sqrtA));
      predEpsilon = modelOutput;
    } else if (predictionType.equals("sample")) {
      predOriginal = modelOutput;
      predEpsilon = sample.sub(predOriginal.mul(s(sqrtA))).div(s(sqrtB));
    } else {  // v_prediction
      predOriginal = sample.mul(s(sqrtA)).sub(modelOutput.mul(s(sqrtB)));
      predEpsilon = modelOutput.mul(s(sqrtA)).add(sample.mul(s(sqrtB)));
    }
    if (thresholding) {
      predOriginal = SchedulerMath.thresholdSample(predOriginal, thresholdRatio, sampleMaxValue);
    } else if (clipSample) {
      predOriginal = predOriginal.clamp(new ScalarOptional(new Scalar(-clipSampleRange)),
          new ScalarOptional(new Scalar(clipSampleRange)));
    }
    final float betaProdTPrev = 1.0f - alphaProdTPrev;
    final float variance = (betaProdTPrev / betaProdT) * (1.0f - alphaProdT / alphaProdTPrev);
    final float eta = (float) stepOptions.eta();
    final float stdDevT = eta * SchedulerMath.sqrt32(variance);
    if (stepOptions.useClippedModelOutput()) predEpsilon = sample.sub(predOriginal.mul(s(sqrtA))).div(s(sqrtB));
    Tensor direction = predEpsilon.mul(s(SchedulerMath.sqrt32(1.0f - alphaProdTPrev - stdDevT * stdDevT)));
    Tensor prev = predOriginal.mul(s(SchedulerMath.sqrt32(alphaProdTPrev))).add(direction);
    if (stepOptions.eta() > 0) {
      Tensor z = noise.randn(Torch.shape(modelOutput), Torch.typeOf(modelOutput));
      prev = prev.add(z.mul(s(stdDevT)));
    }
    return new StepOutput(prev, predOriginal);
  }
}
