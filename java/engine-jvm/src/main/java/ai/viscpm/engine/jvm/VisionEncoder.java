package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import java.util.List;
import java.util.function.Function;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The vision side of VisCPM-Chat (beit3.md §3-§6) in Java on LibTorch ops: the BEiT-3 multiway
 * encoder over cls + patch tokens with the learned queries appended, then the mapping MLP to
 * the language model's width. Keys as in the VisCPM-Chat checkpoint ({@code query},
 * {@code vpm.beit3.*}, {@code mapping.*}); unused ones (text embedding, mask token, the
 * masked-image-modelling head, {@code llm.*}) are ignored, any other unknown key is an error.
 * Owns its weights.
 */
public final class VisionEncoder extends NativeOwner {
  /** Keys of a chat checkpoint the vision encoder does not use. */
  static final List<String> IGNORED_PREFIXES = List.of("llm.", "vpm.mim_head.", "vpm.beit3.text_embed.",
      "vpm.beit3.vision_embed.mask_token");

  private final Beit3Config config;
  private final ScalarType dtype;
  private final boolean reduced;
  private final long outputDim;

  private final Tensor query;         // [Q, D]
  private final Tensor clsToken;      // [1, 1, D]
  private final Linear patch;         // conv p x p stride p as a linear map over flattened patches
  private final Tensor positionsA;    // rows 2.. of embed_positions.A for the image tokens
  private final Tensor positionsB;    // rows 2.. of embed_positions.B for the queries
  private final Layer[] layers;
  private final Norm[] finalNorm;     // encoder.layer_norm.{A,B}
  private final Linear mapping0, mapping2;
  private final Scalar queryScaling;
  private final ScalarTypeOptional float32;

  /** Linear map with bias. */
  private record Linear(Tensor weight, TensorOptional bias) {}

  /** LayerNorm with weight and bias. */
  private record Norm(long[] shape, TensorOptional weight, TensorOptional bias) {}

  /** One expert (A: image tokens, B: queries) of one encoder layer. */
  private record Expert(Norm attentionNorm, Linear q, Linear k, Linear v, Linear out, Norm innerAttentionNorm,
                        Norm ffnNorm, Linear fc1, Norm ffnSubNorm, Linear fc2) {}

  private record Layer(Expert a, Expert b) {}

  private VisionEncoder(Beit3Config config, Checkpoint checkpoint, ScalarType dtype) throws VisCpmException {
    super("the vision encoder");
    this.config = config;
    this.dtype = dtype;
    this.reduced = dtype != ScalarType.Float;
    final long d = config.embedDim(), f = config.ffnEmbedDim(), p = config.patchSize();
    TensorInfo mapping = checkpoint.tensors().stream().filter(t -> t.name().equals("mapping.0.weight")).findFirst()
        .orElseThrow(() -> new FormatException("checkpoint has no 'mapping.0.weight' to size the vision mapping from"));
    if (mapping.shape().length != 2) throw new FormatException("'mapping.0.weight' must be 2-D, got " + mapping.shapeString());
    outputDim = mapping.shape()[0];
    boolean done = false;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      WeightReader r = new WeightReader(checkpoint, "", dtype, "vision encoder");
      query = own(r.read("query", config.queryNum(), d));
      String b3 = "vpm.beit3.";
      clsToken = own(r.read(b3 + "vision_embed.cls_token", 1, 1, d));
      Tensor patchWeight = r.read(b3 + "vision_embed.proj.weight", d, config.inChans(), p, p);
      patch = new Linear(own(patchWeight.reshape(d, config.inChans() * p * p)),
          own(new TensorOptional(r.read(b3 + "vision_embed.proj.bias", d))));
      // torchscale sizes the vision table patches + 1 (cls) + 2 (fairseq offset); rows start at 2.
      positionsA = own(r.read(b3 + "encoder.embed_positions.A.weight", config.numPatches() + 3, d)
          .narrow(0, 2, config.numVisionTokens()));
      positionsB = own(r.read(b3 + "encoder.embed_positions.B.weight", config.maxSourcePositions(), d)
          .narrow(0, 2, config.queryNum()));
      layers = new Layer[Math.toIntExact(config.layers())];
      for (int i = 0; i < layers.length; i++) {
        String l = b3 + "encoder.layers." + i + ".";
        layers[i] = new Layer(expert(r, l, "A", d, f), expert(r, l, "B", d, f));
      }
      finalNorm = new Norm[] {norm(r, b3 + "encoder.layer_norm.A", d), norm(r, b3 + "encoder.layer_norm.B", d)};
      mapping0 = linear(r, "mapping.0", outputDim, d);
      mapping2 = linear(r, "mapping.2", outputDim, outputDim);
      r.requireAllUsed(IGNORED_PREFIXES);
      queryScaling = own(new Scalar(1.0 / Math.sqrt((double) config.headDim())));
      float32 = own(new ScalarTypeOptional(ScalarType.Float));
      done = true;
    } finally {
      if (!done) release();
    }
  }

  private Expert expert(WeightReader r, String l, String x, long d, long f) throws VisCpmException {
    String att = l + "self_attn.";
    return new Expert(
        norm(r, l + "self_attn_layer_norm." + x, d),
        linear(r, att + "q_proj." + x, d, d),
        linear(r, att + "k_proj." + x, d, d),
        linear(r, att + "v_proj." + x, d, d),
        linear(r, att + "out_proj." + x, d, d),
        norm(r, att + "inner_attn_ln." + x, d),
        norm(r, l + "final_layer_norm." + x, d),
        linear(r, l + "ffn." + x + ".fc1", f, d),
        norm(r, l + "ffn." + x + ".ffn_layernorm", f),
        linear(r, l + "ffn." + x + ".fc2", d, f));
  }

  private Linear linear(WeightReader r, String name, long out, long in) throws VisCpmException {
    return new Linear(own(r.read(name + ".weight", out, in)), own(new TensorOptional(r.read(name + ".bias", out))));
  }

  private Norm norm(WeightReader r, String name, long dim) throws VisCpmException {
    return new Norm(new long[] {dim}, own(new TensorOptional(r.read(name + ".weight", dim))),
        own(new TensorOptional(r.read(name + ".bias", dim))));
  }

  /** Loads {@code query}, {@code vpm.beit3.*} and {@code mapping.*} of a chat checkpoint in {@code dtype}. */
  public static VisionEncoder load(Beit3Config config, Checkpoint checkpoint, ScalarType dtype) throws VisCpmException {
    if (dtype != ScalarType.Float && dtype != ScalarType.Half && dtype != ScalarType.BFloat16) {
      throw new ai.viscpm.UnsupportedFeatureException("vision encoder dtype must be float32, float16 or bfloat16, not " + dtype);
    }
    Torch.load();
    return new VisionEncoder(config, checkpoint, dtype);
  }

  public Beit3Config config() {
    return config;
  }

  /** Width of the mapped states (the language model's dim_model). */
  public long outputDim() {
    return outputDim;
  }

  /**
   * pixel_values {@code [B, 3, S, S]} (normalised) -> the encoder outputs of the queries
   * {@code [B, Q, D]}; the caller owns the result.
   */
  public Tensor encode(Tensor pixelValues) throws VisCpmException {
    checkOpen();
    final long s = config.imgSize();
    if (pixelValues.dim() != 4 || pixelValues.size(0) == 0 || pixelValues.size(1) != config.inChans()
        || pixelValues.size(2) != s || pixelValues.size(3) != s) {
      throw new InvalidInputException("pixel_values must be [batch, " + config.inChans() + ", " + s + ", " + s
          + "] with batch >= 1, got " + java.util.Arrays.toString(Torch.shape(pixelValues)));
    }
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor pixels = pixelValues.to(dtype);
      final long b = pixels.size(0), c = config.inChans(), p = config.patchSize(), side = config.patchesPerSide();
      final long d = config.embedDim(), q = config.queryNum();
      // A stride-p p x p convolution is one GEMM over the flattened patches (row-major tokens).
      Tensor patches = pixels.reshape(b, c, side, p, side, p).permute(0, 2, 4, 1, 3, 5).reshape(b, side * side, c * p * p);
      Tensor imageTokens = Torch.cat(1, clsToken.expand(b, 1, d), linear(patches, patch));
      final long split = imageTokens.size(1);
      Tensor tokens = Torch.cat(1, imageTokens, query.unsqueeze(0).expand(b, q, d));
      // Position tables (no embedding scale, no embedding LayerNorm).
      Tensor x = route(tokens, split, t -> t.add(positionsA), t -> t.add(positionsB));
      for (Layer layer : layers) {
        Tensor h = x.add(selfAttention(route(x, split, t -> layerNorm(t, layer.a.attentionNorm),
            t -> layerNorm(t, layer.b.attentionNorm)), layer, split));
        Tensor normed = route(h, split, t -> layerNorm(t, layer.a.ffnNorm), t -> layerNorm(t, layer.b.ffnNorm));
        x = h.add(route(normed, split, t -> feedForward(t, layer.a), t -> feedForward(t, layer.b)));
      }
      x = route(x, split, t -> layerNorm(t, finalNorm[0]), t -> layerNorm(t, finalNorm[1]));
      return Torch.keep(x.narrow(1, split, q));
    }
  }

  /** The mapping MLP (§6): {@code [..., D] -> [..., outputDim]}; the caller owns the result. */
  public Tensor map(Tensor queryOutputs) throws VisCpmException {
    checkOpen();
    if (queryOutputs.size(-1) != config.embedDim()) {
      throw new InvalidInputException("mapping input must end in encoder_embed_dim = " + config.embedDim());
    }
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      return Torch.keep(linear(gelu(linear(queryOutputs.to(dtype), mapping0)), mapping2));
    }
  }

  // ------------------------------------------------------------------------------ building blocks

  /** Image tokens [0, split) through {@code a}, queries through {@code b} (§4). */
  private static Tensor route(Tensor x, long split, Function<Tensor, Tensor> a, Function<Tensor, Tensor> b) {
    long n = x.size(1);
    if (split >= n) return a.apply(x);
    if (split <= 0) return b.apply(x);
    return Torch.cat(1, a.apply(x.narrow(1, 0, split)), b.apply(x.narrow(1, split, n - split)));
  }

  private Tensor selfAttention(Tensor x, Layer layer, long split) {
    final long b = x.size(0), n = x.size(1), d = x.size(2), heads = config.attentionHeads(), hd = config.headDim();
    Function<Tensor, Tensor> split4 = t -> t.view(b, n, heads, hd).transpose(1, 2).reshape(b * heads, n, hd);
    // q is scaled after its bias (torchscale: q *= head_dim ** -0.5), then q kᵀ.
    Tensor q = split4.apply(route(x, split, t -> linear(t, layer.a.q), t -> linear(t, layer.b.q)).mul(queryScaling));
    Tensor k = split4.apply(route(x, split, t -> linear(t, layer.a.k), t -> linear(t, layer.b.k)));
    Tensor v = split4.apply(route(x, split, t -> linear(t, layer.a.v), t -> linear(t, layer.b.v)));
    Tensor scores = torch.bmm(q, k.transpose(1, 2));
    Tensor probs = reduced ? torch.softmax(scores, -1, float32).to(dtype) : torch.softmax(scores, -1);
    Tensor attention = torch.bmm(probs, v).view(b, heads, n, hd).transpose(1, 2).reshape(b, n, d);
    Tensor normed = route(attention, split, t -> layerNorm(t, layer.a.innerAttentionNorm),
        t -> layerNorm(t, layer.b.innerAttentionNorm));
    return route(normed, split, t -> linear(t, layer.a.out), t -> linear(t, layer.b.out));
  }

  /** fc1 -> GELU -> ffn_layernorm (sub-LN) -> fc2. */
  private Tensor feedForward(Tensor x, Expert e) {
    return linear(layerNorm(gelu(linear(x, e.fc1)), e.ffnSubNorm), e.fc2);
  }

  private static Tensor linear(Tensor x, Linear l) {
    return torch.linear(x, l.weight, l.bias);
  }

  private Tensor layerNorm(Tensor x, Norm n) {
    return torch.layer_norm(x, n.shape, n.weight, n.bias, config.layernormEps(), false);
  }

  /** Exact (erf) GELU evaluated in fp32. */
  private Tensor gelu(Tensor x) {
    return reduced ? torch.gelu(x.to(ScalarType.Float)).to(dtype) : torch.gelu(x);
  }
}
