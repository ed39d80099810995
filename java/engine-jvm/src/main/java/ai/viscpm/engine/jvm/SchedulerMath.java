package ai.viscpm.engine.jvm;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The numpy- and torch-exact helpers of the schedulers' timestep and sigma computations
 * (schedulers.md; native/src/diffusion/scheduler_math.cpp). Java float arithmetic is IEEE
 * single precision without fusion, as the reference's; fused steps are spelled {@code Math.fma}.
 */
final class SchedulerMath {
  private SchedulerMath() {}

  /** pow(v, 0.5) of the reference's 0-d float32 tensors (sqrt, correctly rounded). */
  static float sqrt32(float v) {
    return (float) Math.sqrt(v);
  }

  /**
   * torch.linspace(start, end, steps, dtype=float32) as torch's CPU kernel computes it: step =
   * (end - start) / (steps - 1) in float32; element idx < steps/2 is start + step·idx, later
   * ones end - step·(steps - idx - 1), both fused; pairs of 8-lane vectors whose lanes are
   * base + j·step (separately rounded); the tail (< 16 elements) element by element.
   */
  static float[] torchLinspaceF32(double startIn, double endIn, int steps) {
    final float start = (float) startIn, end = (float) endIn;
    float[] out = new float[steps];
    if (steps == 1) {
      out[0] = start;
      return out;
    }
    final float step = (end - start) / (float) (steps - 1);
    final int halfway = steps / 2;
    final int lanes = 8;
    int i = 0;
    for (; i + 2 * lanes <= steps; i += 2 * lanes) {
      for (int block = i; block < i + 2 * lanes; block += lanes) {
        final float base = linspaceElement(block, steps, halfway, start, end, step);
        for (int j = 0; j < lanes; j++) {
          float offset = (float) j * step;  // rounded on its own, then added
          out[block + j] = base + offset;
        }
      }
    }
    for (; i < steps; i++) out[i] = linspaceElement(i, steps, halfway, start, end, step);
    return out;
  }

  private static float linspaceElement(int idx, int steps, int halfway, float start, float end, float step) {
    return idx < halfway ? Math.fma(step, (float) idx, start) : Math.fma(-step, (float) (steps - idx - 1), end);
  }

  /** numpy.linspace(start, stop, num) in float64: i·step + start (two roundings), last = stop. */
  static double[] npLinspace(double start, double stop, int num) {
    double[] y = new double[num];
    if (num == 1) {
      y[0] = start;
      return y;
    }
    final double step = (stop - start) / (double) (num - 1);
    for (int i = 0; i < num; i++) {
      double scaled = (double) i * step;
      y[i] = scaled + start;
    }
    y[num - 1] = stop;
    return y;
  }

  /** numpy.interp(x, [0, 1, ..., n-1], fp) in float64. */
  static double npInterpIndex(double x, double[] fp) {
    final int n = fp.length;
    if (Double.isNaN(x)) return x;
    if (x <= 0.0) return fp[0];
    if (x >= (double) (n - 1)) return fp[n - 1];
    final int j = (int) Math.floor(x);
    if ((double) j == x) return fp[j];
    final double slope = (fp[j + 1] - fp[j]) / 1.0;
    double scaled = slope * (x - (double) j);
    return scaled + fp[j];
  }

  /** numpy.round (half to even). */
  static double npRound(double v) {
    return Math.rint(v);
  }

  /** Karras et al. (2022) sigma ramp of diffusers' _convert_to_karras (rho = 7), float64. */
  static double[] karrasSigmas(double sigmaMin, double sigmaMax, int n) {
    final double rho = 7.0;
    double[] ramp = npLinspace(0.0, 1.0, n);
    final double minInvRho = Math.pow(sigmaMin, 1.0 / rho), maxInvRho = Math.pow(sigmaMax, 1.0 / rho);
    double[] sigmas = new double[n];
    for (int i = 0; i < n; i++) {
      double scaled = ramp[i] * (minInvRho - maxInvRho);
      sigmas[i] = Math.pow(maxInvRho + scaled, rho);
    }
    return sigmas;
  }

  /**
   * diffusers' _sigma_to_t: the fractional training step of {@code sigma}. numpy 1.x casting
   * makes the array expressions float32; only the final blend of the two indices is float64.
   */
  static double sigmaToT(double sigma, float[] logSigmas) {
    final int n = logSigmas.length;
    final float logSigma = (float) Math.log(sigma);
    int low = 0;
    for (int i = 0; i < n; i++) {
      if (logSigma - logSigmas[i] >= 0.0f) low = i;
    }
    low = Math.min(low, n - 2);
    final int high = low + 1;
    final float lo = logSigmas[low], hi = logSigmas[high];
    float w = (lo - logSigma) / (lo - hi);
    w = Math.min(Math.max(w, 0.0f), 1.0f);
    return (double) (1.0f - w) * (double) low + (double) w * (double) high;
  }

  /** Training sigmas sqrt((1 - ᾱ) / ᾱ) in float32. */
  static float[] trainingSigmas(float[] alphasCumprod) {
    float[] sigmas = new float[alphasCumprod.length];
    for (int i = 0; i < sigmas.length; i++) {
      final float a = alphasCumprod[i];
      sigmas[i] = sqrt32((1.0f - a) / a);
    }
    return sigmas;
  }

  /** log of float32 values as LibTorch computes it (the reference's torch.log / np.log on float32). */
  static float[] log32(float[] values) {
    try (PointerScope scope = new PointerScope()) {
      Tensor logs = torch.log(Torch.floats(values, values.length)).contiguous();
      float[] out = new float[values.length];
      Torch.floatBuffer(logs).get(out);
      return out;
    }
  }

  /** exp of float32 values as LibTorch computes it. */
  static float[] exp32(float[] values) {
    try (PointerScope scope = new PointerScope()) {
      Tensor exps = torch.exp(Torch.floats(values, values.length)).contiguous();
      float[] out = new float[values.length];
      Torch.floatBuffer(exps).get(out);
      return out;
    }
  }

  /** The Euler classes' schedule: float64 timesteps and float32 sigmas (one more, ending in 0). */
  record EulerSchedule(double[] timesteps, float[] sigmas) {}

  static EulerSchedule eulerSchedule(float[] trainSigmas, int n, String interpolation, boolean useKarrasSigmas) {
    final int numTrain = trainSigmas.length;
    double[] ascending = npLinspace(0.0, (double) (numTrain - 1), n);
    double[] timesteps = new double[n];
    for (int i = 0; i < n; i++) timesteps[i] = ascending[n - 1 - i];
    double[] sigmas;  // float64 like the reference's numpy arrays
    if (interpolation.equals("linear")) {
      double[] fp = new double[numTrain];
      for (int i = 0; i < numTrain; i++) fp[i] = trainSigmas[i];
      sigmas = new double[n];
      for (int i = 0; i < n; i++) sigmas[i] = npInterpIndex(timesteps[i], fp);
    } else {  // log_linear: float32 linspace of log sigmas (n + 1 points, as v0.15.0), exp'd
      float[] ends = log32(new float[] {trainSigmas[numTrain - 1], trainSigmas[0]});
      float[] values = exp32(torchLinspaceF32(ends[0], ends[1], n + 1));
      sigmas = new double[n + 1];
      for (int i = 0; i <= n; i++) sigmas[i] = values[i];
    }
    if (useKarrasSigmas) {
      // sigma_min / sigma_max as v0.15.0 reads them: the last and first entries.
      sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], n);
      float[] logSigmas = log32(trainSigmas);
      for (int i = 0; i < n; i++) timesteps[i] = sigmaToT(sigmas[i], logSigmas);
    }
    float[] out = new float[sigmas.length + 1];
    for (int i = 0; i < sigmas.length; i++) out[i] = (float) sigmas[i];
    out[sigmas.length] = 0.0f;
    return new EulerSchedule(timesteps, out);
  }

  /**
   * Imagen dynamic thresholding of x0 (diffusers' _threshold_sample): per batch row, clamp to
   * the {@code ratio} quantile of |x0| (at least 1, at most maxValue) and rescale. In the
   * caller's scope.
   */
  static Tensor thresholdSample(Tensor sample, double ratio, double maxValue) {
    ScalarType dtype = Torch.typeOf(sample);
    Tensor x = dtype == ScalarType.Float || dtype == ScalarType.Double ? sample : sample.to(ScalarType.Float);
    long[] shape = Torch.shape(x);
    x = x.reshape(shape[0], -1);
    Tensor s = torch.quantile(x.abs(), ratio, new LongOptional(1), false, "linear");
    s = s.clamp(new org.bytedeco.pytorch.ScalarOptional(new Scalar(1.0)),
        new org.bytedeco.pytorch.ScalarOptional(new Scalar(maxValue))).unsqueeze(1);
    x = x.clamp(new TensorOptional(s.neg()), new TensorOptional(s)).div(s);
    return x.reshape(shape).to(dtype);
  }
}
