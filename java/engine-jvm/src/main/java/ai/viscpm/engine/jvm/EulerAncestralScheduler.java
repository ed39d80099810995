package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import org.bytedeco.pytorch.Tensor;

/**
 * EulerAncestralDiscreteScheduler (diffusers v0.15.0, schedulers.md §7): Euler's sigmas,
 * timesteps and input scaling; each step goes down to sigma_down and adds fresh noise of std
 * sigma_up (one draw per step, the last one included).
 */
final class EulerAncestralScheduler extends Scheduler.SigmaSpace {
  private final boolean vPrediction;

  EulerAncestralScheduler(SchedulerConfig config) throws VisCpmException {
    resolveConfig(config, params(betaParams(), "prediction_type", "epsilon"));
    initNoiseSchedule(false);
    String prediction = reader().choice("prediction_type", "epsilon", "v_prediction", "sample");
    if (prediction.equals("sample")) {
      throw new UnsupportedFeatureException("EulerAncestralDiscreteScheduler: prediction_type 'sample' is not "
          + "implemented (nor in diffusers v0.15.0)");
    }
    vPrediction = prediction.equals("v_prediction");
    initSigmas();
  }

  @Override
  public String name() {
    return "euler_ancestral";
  }

  @Override
  public String className() {
    return "EulerAncestralDiscreteScheduler";
  }

  @Override
  protected double[] computeTimesteps(int n) {
    return sigmaSchedule(n, "linear", false);
  }

  @Override
  protected StepOutput doStep(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException {
    checkStepInputs(modelOutput, sample, false);
    final int i = indexOf(timestep);
    final float sigma = sigmas[i];
    Tensor predOriginal = predictOriginal(modelOutput, sample, sigma, vPrediction);
    final float sigmaFrom = sigmas[i], sigmaTo = sigmas[i + 1];
    final float fromSq = sigmaFrom * sigmaFrom, toSq = sigmaTo * sigmaTo;
    final float sigmaUp = SchedulerMath.sqrt32(toSq * (fromSq - toSq) / fromSq);
    final float sigmaDown = SchedulerMath.sqrt32(toSq - sigmaUp * sigmaUp);
    Tensor derivative = sample.sub(predOriginal).div(s(sigma));
    final float dt = sigmaDown - sigma;
    Tensor prev = sample.add(derivative.mul(s(dt)));
    Tensor z = noise.randn(Torch.shape(modelOutput), Torch.typeOf(modelOutput));
    return new StepOutput(prev.add(z.mul(s(sigmaUp))), predOriginal);
  }
}
