package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import org.bytedeco.pytorch.Tensor;

/**
 * EulerDiscreteScheduler (diffusers v0.15.0, schedulers.md §6): Euler steps in sigma space
 * (Karras et al. 2022, Algorithm 2). Fractional float64 timesteps; inputs scaled by
 * 1 / sqrt(sigma² + 1); one noise draw per step even when unused (s_churn = 0).
 */
final class EulerScheduler extends Scheduler.SigmaSpace {
  private final String predictionType, interpolationType;
  private final boolean useKarrasSigmas;

  EulerScheduler(SchedulerConfig config) throws VisCpmException {
    resolveConfig(config, params(betaParams(), "prediction_type", "epsilon", "interpolation_type", "linear",
        "use_karras_sigmas", false));
    initNoiseSchedule(false);
    ConfigReader read = reader();
    predictionType = read.choice("prediction_type", "epsilon", "v_prediction", "sample", "original_sample");
    interpolationType = read.choice("interpolation_type", "linear", "log_linear");
    useKarrasSigmas = read.bool("use_karras_sigmas");
    initSigmas();
  }

  @Override
  public String name() {
    return "euler";
  }

  @Override
  public String className() {
    return "EulerDiscreteScheduler";
  }

  @Override
  protected double[] computeTimesteps(int n) {
    return sigmaSchedule(n, interpolationType, useKarrasSigmas);
  }

  @Override
  protected StepOutput doStep(Tensor modelOutput, double timestep, Tensor sampleIn, NoiseSource noise)
      throws InvalidInputException {
    checkStepInputs(modelOutput, sampleIn, false);
    final int i = indexOf(timestep);
    final float sigma = sigmas[i];
    final StepOptions o = stepOptions;
    final double gamma = o.sTmin() <= sigma && sigma <= o.sTmax()
        ? Math.min(o.sChurn() / (double) (sigmas.length - 1), Math.sqrt(2.0) - 1) : 0.0;
    // v0.15.0 draws here unconditionally: the draw advances the generator even when unused.
    Tensor z = noise.randn(Torch.shape(modelOutput), Torch.typeOf(modelOutput));
    final float sigmaHat = sigma * (float) (gamma + 1);
    Tensor sample = sampleIn;
    if (gamma > 0) {
      Tensor eps = z.mul(new org.bytedeco.pytorch.Scalar(o.sNoise()));
      sample = sample.add(eps.mul(s(SchedulerMath.sqrt32(sigmaHat * sigmaHat - sigma * sigma))));
    }
    // v0.15.0 scales epsilon by sigma_hat but v by sigma.
    Tensor predOriginal = switch (predictionType) {
      case "epsilon" -> predictOriginal(modelOutput, sample, sigmaHat, false);
      case "v_prediction" -> predictOriginal(modelOutput, sample, sigma, true);
      default -> modelOutput;  // sample / original_sample
    };
    Tensor derivative = sample.sub(predOriginal).div(s(sigmaHat));
    final float dt = sigmas[i + 1] - sigmaHat;
    return new StepOutput(sample.add(derivative.mul(s(dt))), predOriginal);
  }
}
