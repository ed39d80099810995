package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A noise scheduler of the paint denoising loop with diffusers v0.15.0 semantics
 * (schedulers.md; native/src/diffusion/scheduler*.cpp): DDPM (VisCPM-Paint's), DDIM, PNDM
 * (PLMS), Euler, Euler ancestral and DPM-Solver++ multistep, each built from the same {@code
 * scheduler_config.json} as {@code Class.from_config} builds it.
 *
 * <p>Tables (betas, ᾱ, sigmas) are float32 values computed in Java as the reference computes
 * them; {@link #step} works on tensors of any floating dtype, applying scalars as float32
 * numbers (the reference's 0-d tensors). Not thread-safe: one object per generation (PNDM and
 * DPM-Solver keep a history, which {@link #close} frees). {@link #step} and {@link
 * #scaleModelInput} follow the engine's rule: they run in a PointerScope of their own and what
 * they return belongs to the caller.
 *
 * <pre>
 * try (Scheduler s = Scheduler.create("ddpm", SchedulerConfig.load(dir.resolve("scheduler_config.json")))) {
 *   s.setTimesteps(50);
 *   for (double t : s.timestepValues()) { ... s.step(eps, t, x, noise) ... }
 * }
 * </pre>
 */
public abstract class Scheduler implements AutoCloseable {
  /** Per-call options of the reference {@code step} signatures, fixed for a scheduler's lifetime. */
  public record StepOptions(double eta, boolean useClippedModelOutput, double sChurn, double sTmin, double sTmax,
                            double sNoise) {
    public static StepOptions defaults() {
      return new StepOptions(0.0, false, 0.0, 0.0, Double.POSITIVE_INFINITY, 1.0);
    }
  }

  /** The next sample, and the x0 estimate for the classes that return one (else null); close() frees both. */
  public record StepOutput(Tensor prevSample, Tensor predOriginalSample) implements AutoCloseable {
    @Override
    public void close() {
      prevSample.close();
      if (predOriginalSample != null) predOriginalSample.close();
    }
  }

  /** One constructor parameter of a diffusers scheduler class and its v0.15.0 default. */
  record Param(String name, JsonNode defaultValue) {}

  protected static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  protected ObjectNode effectiveConfig;
  protected List<String> ignoredConfigKeys;
  protected int numTrainTimesteps = 1000;
  protected int numInferenceSteps;
  protected float[] betas, alphas, alphasCumprod;
  protected double[] timestepValues;
  protected StepOptions stepOptions = StepOptions.defaults();

  protected Scheduler() {}

  // ------------------------------------------------------------------------------ factory

  private record Kind(String name, List<String> aliases) {}

  private static final List<Kind> KINDS = List.of(
      new Kind("ddpm", List.of("ddpmscheduler")),
      new Kind("ddim", List.of("ddimscheduler")),
      new Kind("pndm", List.of("pndmscheduler")),
      new Kind("euler", List.of("euler_discrete", "eulerdiscretescheduler", "k_euler")),
      new Kind("euler_ancestral", List.of("euler_a", "euler_ancestral_discrete", "eulerancestraldiscretescheduler",
          "k_euler_ancestral")),
      new Kind("dpmsolver_multistep", List.of("dpmsolvermultistepscheduler", "dpm_solver_multistep", "dpmsolver++",
          "dpm++2m", "dpm++_2m")));

  /** Canonical names, in a stable order. */
  public static List<String> names() {
    return KINDS.stream().map(Kind::name).toList();
  }

  /** The canonical name of a name or alias (case-insensitive, '-' = '_', diffusers class names too). */
  public static String canonicalName(String nameOrAlias) throws InvalidInputException {
    String key = nameOrAlias.toLowerCase(Locale.ROOT).replace('-', '_');
    for (Kind kind : KINDS) {
      if (kind.name.equals(key) || kind.aliases.contains(key)) return kind.name;
    }
    throw new InvalidInputException("unknown scheduler '" + nameOrAlias + "'; known schedulers: "
        + String.join(", ", names()) + " (or their diffusers class names)");
  }

  /**
   * The scheduler {@code name} (or alias) built from {@code config}. InvalidInputException for an
   * unknown name or a bad config value; UnsupportedFeatureException for a valid diffusers option
   * this engine does not implement.
   */
  public static Scheduler create(String name, SchedulerConfig config) throws VisCpmException {
    Torch.load();
    return switch (canonicalName(name)) {
      case "ddpm" -> new DdpmScheduler(config);
      case "ddim" -> new DdimScheduler(config);
      case "pndm" -> new PndmScheduler(config);
      case "euler" -> new EulerScheduler(config);
      case "euler_ancestral" -> new EulerAncestralScheduler(config);
      case "dpmsolver_multistep" -> new DpmSolverMultistepScheduler(config);
      default -> throw new IllegalStateException(name);
    };
  }

  // ------------------------------------------------------------------------------ interface

  /** Canonical short name ("ddpm", ...). */
  public abstract String name();

  /** The diffusers class ("DDPMScheduler", ...). */
  public abstract String className();

  /**
   * Computes the inference timesteps and clears the step history; InvalidInputException unless
   * 1 <= n <= num_train_timesteps.
   */
  public final void setTimesteps(int n) throws InvalidInputException {
    if (n < 1 || n > numTrainTimesteps) {
      throw new InvalidInputException(className() + ": the number of inference steps must be between 1 and "
          + numTrainTimesteps + " (num_train_timesteps), got " + n);
    }
    double[] values = computeTimesteps(n);
    numInferenceSteps = n;
    timestepValues = values;
    reset();
  }

  /**
   * The timesteps, one per model evaluation (PNDM repeats one, DPM-Solver drops duplicates):
   * integers for every class but the Euler ones (fractional).
   */
  public final double[] timestepValues() throws InvalidInputException {
    requireTimesteps();
    return timestepValues.clone();
  }

  /** Whether the reference holds the timesteps as int64 (else float64, the Euler classes). */
  public boolean integerTimesteps() {
    return true;
  }

  /** The timesteps as the reference's tensor (int64 or float64); the caller owns it. */
  public final Tensor timesteps() throws InvalidInputException {
    requireTimesteps();
    try (PointerScope scope = new PointerScope()) {
      if (integerTimesteps()) {
        long[] v = new long[timestepValues.length];
        for (int i = 0; i < v.length; i++) v[i] = (long) timestepValues[i];
        return Torch.keep(Torch.longs(v, v.length));
      }
      Tensor t = Torch.empty(ScalarType.Double, timestepValues.length);
      if (timestepValues.length > 0) new org.bytedeco.javacpp.DoublePointer(t.data_ptr()).put(timestepValues);
      return Torch.keep(t);
    }
  }

  public int numTrainTimesteps() {
    return numTrainTimesteps;
  }

  /** Multiplier of the initial standard-normal latents. */
  public double initNoiseSigma() {
    return 1.0;
  }

  /** The UNet input for timestep {@code t} (the sample itself but for the Euler classes); the caller owns it. */
  public final Tensor scaleModelInput(Tensor sample, double timestep) throws InvalidInputException {
    requireTimesteps();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      return hold(scale(sample, timestep));
    }
  }

  /** In the caller's scope. */
  protected Tensor scale(Tensor sample, double timestep) throws InvalidInputException {
    return sample;
  }

  /** One denoising step at timestep {@code t} (one of the timesteps); the caller owns the output. */
  public final StepOutput step(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException {
    requireTimesteps();
    if (modelOutput == null || sample == null) {
      throw new InvalidInputException(className() + ".step: model_output and sample must be given");
    }
    if (!Unet.isFloating(modelOutput) || !Unet.isFloating(sample)) {
      throw new InvalidInputException(className() + ".step: model_output and sample must be floating-point tensors");
    }
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      StepOutput out = doStep(modelOutput, timestep, sample, noise);
      // Fresh handles: an output may be one of the caller's own tensors (x0 = model_output).
      return new StepOutput(hold(out.prevSample()),
          out.predOriginalSample() == null ? null : hold(out.predOriginalSample()));
    }
  }

  /**
   * One step with classifier-free guidance, model output {@code uncond + scale·(cond - uncond)}
   * (the reference pipeline's expression); returns the next sample, owned by the caller.
   */
  public final Tensor guidedStep(Tensor uncond, Tensor cond, double guidanceScale, double timestep, Tensor sample,
      NoiseSource noise) throws InvalidInputException {
    if (!Arrays.equals(Torch.shape(uncond), Torch.shape(cond))) {
      throw new InvalidInputException(className() + ".guided_step: uncond and cond must have one shape");
    }
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor guided = uncond.add(cond.sub(uncond).mul(new Scalar(guidanceScale)));
      StepOutput out = step(guided, timestep, sample, noise);
      if (out.predOriginalSample() != null) out.predOriginalSample().close();
      return out.prevSample();
    }
  }

  /** Forgets the multistep history (PNDM, DPM-Solver) for a new run with the same timesteps. */
  public void reset() {}

  public void setStepOptions(StepOptions options) {
    stepOptions = options;
  }

  public StepOptions stepOptions() {
    return stepOptions;
  }

  /** ᾱ, float32, num_train_timesteps entries (a copy). */
  public float[] alphasCumprod() {
    return alphasCumprod.clone();
  }

  public float[] betas() {
    return betas.clone();
  }

  /** Inference sigmas (timesteps + 1 entries, last 0) for the classes that have them, else null. */
  public float[] sigmas() {
    return null;
  }

  /** The constructor parameters in force, in diffusers' signature order (a copy). */
  public ObjectNode effectiveConfig() {
    return effectiveConfig.deepCopy();
  }

  /** The keys of the config the class does not take (file order, "_" keys left out). */
  public List<String> ignoredConfigKeys() {
    return ignoredConfigKeys;
  }

  @Override
  public void close() {
    reset();
  }

  // ------------------------------------------------------------------------------ for the classes

  protected abstract double[] computeTimesteps(int n) throws InvalidInputException;

  /** In the caller's PointerScope. */
  protected abstract StepOutput doStep(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
      throws InvalidInputException;

  /** The parameters every class takes first. */
  static List<Param> betaParams() {
    return List.of(new Param("num_train_timesteps", JSON.numberNode(1000)),
        new Param("beta_start", JSON.numberNode(0.0001)), new Param("beta_end", JSON.numberNode(0.02)),
        new Param("beta_schedule", JSON.textNode("linear")), new Param("trained_betas", JSON.nullNode()));
  }

  static List<Param> params(List<Param> base, Object... nameDefaultPairs) {
    List<Param> out = new ArrayList<>(base);
    for (int i = 0; i < nameDefaultPairs.length; i += 2) {
      Object v = nameDefaultPairs[i + 1];
      JsonNode node = v instanceof JsonNode n ? n : v instanceof String s ? JSON.textNode(s)
          : v instanceof Boolean b ? JSON.booleanNode(b) : v instanceof Integer k ? JSON.numberNode(k)
          : v instanceof Double d ? JSON.numberNode(d) : null;
      if (node == null) throw new IllegalArgumentException("default of " + nameDefaultPairs[i]);
      out.add(new Param((String) nameDefaultPairs[i], node));
    }
    return out;
  }

  /** {@code Class.from_config}: class defaults overridden by the keys it takes; the other keys ignored. */
  protected final void resolveConfig(SchedulerConfig config, List<Param> params) {
    effectiveConfig = JSON.objectNode();
    for (Param p : params) {
      JsonNode v = config.get(p.name);
      effectiveConfig.set(p.name, v != null ? v.deepCopy() : p.defaultValue.deepCopy());
    }
    List<String> ignored = new ArrayList<>();
    for (String key : config.keys()) {
      if (key.startsWith("_")) continue;
      if (params.stream().noneMatch(p -> p.name.equals(key))) ignored.add(key);
    }
    ignoredConfigKeys = List.copyOf(ignored);
  }

  /** Fills betas/alphas/ᾱ from the effective config (beta_schedule, ...). */
  protected final void initNoiseSchedule(boolean allowSigmoid) throws InvalidInputException {
    ConfigReader config = reader();
    numTrainTimesteps = (int) config.integer("num_train_timesteps", 1, 100000);
    final int n = numTrainTimesteps;
    if (!config.isNull("trained_betas")) {
      double[] list = config.numberList("trained_betas");
      if (list.length != n) {
        throw config.fail("trained_betas", "must have num_train_timesteps (" + n + ") entries, has " + list.length);
      }
      betas = new float[n];
      for (int i = 0; i < n; i++) betas[i] = (float) list[i];
    } else {
      String schedule = allowSigmoid
          ? config.choice("beta_schedule", "linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")
          : config.choice("beta_schedule", "linear", "scaled_linear", "squaredcos_cap_v2");
      if (schedule.equals("squaredcos_cap_v2")) {
        // Glide cosine schedule, computed in float64 and stored as float32.
        betas = new float[n];
        for (int i = 0; i < n; i++) {
          double t1 = (double) i / n, t2 = (double) (i + 1) / n;
          betas[i] = (float) Math.min(1 - alphaBar(t2) / alphaBar(t1), 0.999);
        }
      } else {
        final double start = config.number("beta_start"), end = config.number("beta_end");
        if (schedule.equals("linear")) {
          betas = SchedulerMath.torchLinspaceF32(start, end, n);
        } else if (schedule.equals("scaled_linear")) {
          if (start < 0 || end < 0) throw config.fail(start < 0 ? "beta_start" : "beta_end", "must be >= 0");
          // float32 linspace between the float64 square roots, then squared in float32.
          float[] roots = SchedulerMath.torchLinspaceF32(Math.pow(start, 0.5), Math.pow(end, 0.5), n);
          betas = new float[n];
          for (int i = 0; i < n; i++) betas[i] = roots[i] * roots[i];
        } else {  // sigmoid (DDPM only), in LibTorch ops as the reference
          try (PointerScope scope = new PointerScope()) {
            float[] x = SchedulerMath.torchLinspaceF32(-6.0, 6.0, n);
            Tensor b = torch.sigmoid(Torch.floats(x, n)).mul(new Scalar(end - start)).add(new Scalar(start)).contiguous();
            betas = new float[n];
            Torch.floatBuffer(b).get(betas);
          }
        }
      }
    }
    float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
    for (float b : betas) {
      min = Math.min(min, b);
      max = Math.max(max, b);
    }
    if (!(min >= 0.0f) || !(max < 1.0f)) {
      throw config.fail(config.isNull("trained_betas") ? "beta_schedule" : "trained_betas",
          "gives betas in [" + min + ", " + max + "]; betas must lie in [0, 1)");
    }
    alphas = new float[n];
    alphasCumprod = new float[n];
    // torch.cumprod of float32 on the CPU: a float64 running product, rounded at each entry.
    double product = 1.0;
    for (int i = 0; i < n; i++) {
      alphas[i] = 1.0f - betas[i];
      product *= (double) alphas[i];
      alphasCumprod[i] = (float) product;
    }
  }

  private static double alphaBar(double t) {
    double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
    return c * c;
  }

  /** ᾱ_t; InvalidInputException when t is outside [0, T). */
  protected final float alphaCumprod(long t) throws InvalidInputException {
    if (t < 0 || t >= numTrainTimesteps) {
      throw new InvalidInputException(className() + ": timestep " + t + " is outside [0, " + numTrainTimesteps + ")");
    }
    return alphasCumprod[(int) t];
  }

  /** Position of {@code timestep} in the timesteps (InvalidInputException when absent). */
  protected final int indexOf(double timestep) throws InvalidInputException {
    for (int i = 0; i < timestepValues.length; i++) {
      if (timestepValues[i] == timestep) return i;
    }
    throw new InvalidInputException(className() + ": timestep " + timestep + " is not one of the scheduler's timesteps");
  }

  /** {@code timestep} as an integer training step (InvalidInputException when fractional or out of range). */
  protected final long integerTimestep(double timestep) throws InvalidInputException {
    if (timestep != Math.floor(timestep) || timestep < 0 || timestep >= numTrainTimesteps) {
      throw new InvalidInputException(className() + ": timestep " + timestep + " must be an integer in [0, "
          + numTrainTimesteps + ")");
    }
    return (long) timestep;
  }

  /** Shape check of step() inputs (a model output may carry 2x channels for learned variances). */
  protected static void checkStepInputs(Tensor modelOutput, Tensor sample, boolean allowDoubleChannels)
      throws InvalidInputException {
    long[] m = Torch.shape(modelOutput), s = Torch.shape(sample);
    if (Arrays.equals(m, s)) return;
    boolean doubled = allowDoubleChannels && m.length == s.length && s.length >= 2 && m[1] == 2 * s[1];
    for (int d = 0; doubled && d < s.length; d++) {
      if (d != 1 && m[d] != s[d]) doubled = false;
    }
    if (!doubled) {
      throw new InvalidInputException("scheduler step: model_output shape " + Arrays.toString(m)
          + " does not match sample shape " + Arrays.toString(s));
    }
  }

  private void requireTimesteps() throws InvalidInputException {
    if (timestepValues == null) throw new InvalidInputException(className() + ": call setTimesteps(n) first");
  }

  protected final ConfigReader reader() {
    return new ConfigReader(effectiveConfig, className());
  }

  /** A float32 scalar of the reference's 0-d tensors, in the caller's scope. */
  protected static Scalar s(float v) {
    return new Scalar((double) v);
  }

  /** Keeps a history tensor past the step's scope (a handle of its own; close() it to drop it). */
  protected static Tensor hold(Tensor t) {
    return Torch.keep(new Tensor(t));
  }

  protected static void drop(Tensor t) {
    if (t != null) t.close();
  }

  /** Typed, validated reads of an effective config; failures name the class, the key and the value. */
  static final class ConfigReader {
    private final ObjectNode config;
    private final String className;

    ConfigReader(ObjectNode config, String className) {
      this.config = config;
      this.className = className;
    }

    InvalidInputException fail(String key, String why) {
      JsonNode v = config.get(key);
      return new InvalidInputException(className + ": config value " + key + " = " + (v == null ? "(missing)" : v)
          + " " + why);
    }

    long integer(String key, long min, long max) throws InvalidInputException {
      JsonNode v = config.get(key);
      long value;
      if (v.isIntegralNumber()) value = v.asLong();
      else if (v.isNumber() && Double.isFinite(v.asDouble()) && v.asDouble() == Math.floor(v.asDouble())
          && Math.abs(v.asDouble()) < 9.0e15) value = (long) v.asDouble();
      else throw fail(key, "must be an integer");
      if (value < min || value > max) throw fail(key, "must be between " + min + " and " + max);
      return value;
    }

    double number(String key) throws InvalidInputException {
      JsonNode v = config.get(key);
      if (!v.isNumber() || !Double.isFinite(v.asDouble())) throw fail(key, "must be a finite number");
      return v.asDouble();
    }

    double numberIn(String key, double min, double max) throws InvalidInputException {
      double value = number(key);
      if (value < min || value > max) throw fail(key, "must be between " + min + " and " + max);
      return value;
    }

    boolean bool(String key) throws InvalidInputException {
      JsonNode v = config.get(key);
      if (!v.isBoolean()) throw fail(key, "must be true or false");
      return v.asBoolean();
    }

    String choice(String key, String... allowed) throws InvalidInputException {
      JsonNode v = config.get(key);
      if (v.isTextual() && Arrays.asList(allowed).contains(v.asText())) return v.asText();
      throw fail(key, "must be one of: " + String.join(", ", allowed));
    }

    boolean isNull(String key) {
      return config.get(key).isNull();
    }

    double[] numberList(String key) throws InvalidInputException {
      JsonNode v = config.get(key);
      if (!v.isArray()) throw fail(key, "must be a list of numbers or null");
      double[] out = new double[v.size()];
      for (int i = 0; i < out.length; i++) {
        JsonNode e = v.get(i);
        if (!e.isNumber() || !Double.isFinite(e.asDouble())) throw fail(key, "must be a list of finite numbers");
        out[i] = e.asDouble();
      }
      return out;
    }
  }

  /** What the two Euler classes share: training sigmas, init_noise_sigma, the inference sigmas, input scaling. */
  abstract static class SigmaSpace extends Scheduler {
    protected float[] trainSigmas, sigmas;
    protected float initNoiseSigma = 1.0f;

    @Override
    public boolean integerTimesteps() {
      return false;
    }

    @Override
    public double initNoiseSigma() {
      return initNoiseSigma;
    }

    @Override
    public float[] sigmas() {
      return sigmas == null ? null : sigmas.clone();
    }

    /** After initNoiseSchedule(): the training sigmas and the initial noise sigma (their maximum). */
    protected final void initSigmas() {
      trainSigmas = SchedulerMath.trainingSigmas(alphasCumprod);
      float max = Float.NEGATIVE_INFINITY;
      for (float v : trainSigmas) max = Math.max(max, v);
      initNoiseSigma = max;
    }

    protected final double[] sigmaSchedule(int n, String interpolation, boolean karras) {
      SchedulerMath.EulerSchedule schedule = SchedulerMath.eulerSchedule(trainSigmas, n, interpolation, karras);
      sigmas = schedule.sigmas();
      return schedule.timesteps();
    }

    @Override
    protected Tensor scale(Tensor sample, double timestep) throws InvalidInputException {
      final float sigma = sigmas[indexOf(timestep)];
      return sample.div(s(SchedulerMath.sqrt32(sigma * sigma + 1.0f)));
    }

    /** x0 from the model output at {@code sigma} (epsilon or v-prediction). */
    protected static Tensor predictOriginal(Tensor modelOutput, Tensor sample, float sigma, boolean vPrediction) {
      if (!vPrediction) return sample.sub(modelOutput.mul(s(sigma)));
      final float sigmaSq1 = sigma * sigma + 1.0f;
      return modelOutput.mul(s(-sigma / SchedulerMath.sqrt32(sigmaSq1))).add(sample.div(s(sigmaSq1)));
    }
  }

}
