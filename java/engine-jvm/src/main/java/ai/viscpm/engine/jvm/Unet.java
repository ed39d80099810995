package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.InvalidInputException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import ai.viscpm.engine.jvm.DiffusionLayers.Conv2d;
import ai.viscpm.engine.jvm.DiffusionLayers.Downsample;
import ai.viscpm.engine.jvm.DiffusionLayers.GroupNorm;
import ai.viscpm.engine.jvm.DiffusionLayers.LayerNorm;
import ai.viscpm.engine.jvm.DiffusionLayers.Linear;
import ai.viscpm.engine.jvm.DiffusionLayers.Params;
import ai.viscpm.engine.jvm.DiffusionLayers.ResnetBlock;
import ai.viscpm.engine.jvm.DiffusionLayers.Upsample;
import ai.viscpm.internal.NativeLibrary;
import java.util.List;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * VisCPM-Paint's UNet (unet.md): UNet2DConditionModel as diffusers 0.15 computes it for the
 * Stable Diffusion 2.1-base family — sinusoidal time embedding and its MLP, ResNet blocks,
 * Transformer2D blocks (self-attention, cross-attention to the text context, GEGLU), down,
 * mid and up blocks with the skip stack. Parameter names are the diffusers keys under a
 * prefix ({@code unet.} in viscpm_paint.pt), loaded strictly. Owns its weights; {@link
 * #forward} may run on several threads at once.
 */
public final class Unet extends NativeOwner {
  private final UnetConfig config;
  private final ScalarType dtype;

  private final Conv2d convIn, convOut;
  private final Linear timeLinear1, timeLinear2;
  private final Level[] down, up;
  private final ResnetBlock midResnet0, midResnet1;
  private final Transformer midAttention;
  private final GroupNorm convNormOut;

  /** Multi-head attention: to_q/to_k/to_v without bias, to_out.0 with bias. */
  private record Attention(Linear q, Linear k, Linear v, Linear out, long heads, double scale) {
    Tensor forward(Tensor x, Tensor context) {
      Tensor source = context != null ? context : x;
      Tensor o = DiffusionLayers.attention(DiffusionLayers.headsToBatch(q.forward(x), heads),
          DiffusionLayers.headsToBatch(k.forward(source), heads), DiffusionLayers.headsToBatch(v.forward(source), heads),
          scale);
      return out.forward(DiffusionLayers.batchToHeads(o, heads));
    }
  }

  /**
   * Transformer2DModel with one BasicTransformerBlock: x + proj_out(block(proj_in(GN(x)) as
   * tokens in row-major spatial order, channels last)). proj_in/proj_out are Linear
   * ({@code use_linear_projection}, SD 2.x) or 1x1 convolutions.
   */
  private record Transformer(GroupNorm norm, Linear projInLinear, Conv2d projInConv, LayerNorm norm1, Attention attn1,
                             LayerNorm norm2, Attention attn2, LayerNorm norm3, Linear geglu, Linear ffOut,
                             Linear projOutLinear, Conv2d projOutConv) {
    Tensor forward(Tensor x, Tensor context) {
      final long b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
      Tensor h = norm.forward(x);
      if (projInLinear != null) {
        h = projInLinear.forward(h.permute(0, 2, 3, 1).reshape(b, height * width, c));
      } else {
        h = projInConv.forward(h).permute(0, 2, 3, 1).reshape(b, height * width, c);
      }
      h = attn1.forward(norm1.forward(h), null).add(h);
      h = attn2.forward(norm2.forward(h), context).add(h);
      // GEGLU: [value | gate] = x·Wᵀ + b, value * gelu(gate) (exact GELU), then ff.net.2.
      TensorVector halves = geglu.forward(norm3.forward(h)).chunk(2, -1);
      h = ffOut.forward(halves.get(0).mul(torch.gelu(halves.get(1)))).add(h);
      if (projOutLinear != null) {
        h = projOutLinear.forward(h).reshape(b, height, width, c).permute(0, 3, 1, 2).contiguous();
      } else {
        h = projOutConv.forward(h.reshape(b, height, width, c).permute(0, 3, 1, 2).contiguous());
      }
      return h.add(x);
    }
  }

  /** One down or up level: ResNets (each followed by a transformer in cross-attention levels), a resampler. */
  private record Level(ResnetBlock[] resnets, Transformer[] attentions, Downsample downsample, Upsample upsample) {}

  private Unet(UnetConfig config, Checkpoint checkpoint, String prefix, ScalarType dtype) throws VisCpmException {
    super("the UNet");
    this.config = config;
    this.dtype = dtype;
    final long[] ch = config.blockOutChannels();
    final int levels = config.levels();
    boolean done = false;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      WeightReader reader = new WeightReader(checkpoint, prefix, dtype, "UNet");
      Params p = new Params(reader, owned);
      convIn = p.conv("conv_in", config.inChannels(), ch[0], config.convInKernel(), 1, (config.convInKernel() - 1) / 2);
      timeLinear1 = p.linear("time_embedding.linear_1", ch[0], config.timeEmbedDim(), true);
      timeLinear2 = p.linear("time_embedding.linear_2", config.timeEmbedDim(), config.timeEmbedDim(), true);

      down = new Level[levels];
      long outputChannels = ch[0];
      for (int i = 0; i < levels; i++) {
        final long inputChannels = outputChannels;
        outputChannels = ch[i];
        String name = "down_blocks." + i;
        int n = Math.toIntExact(config.layersPerBlock());
        boolean attention = config.downWithAttention().get(i);
        ResnetBlock[] resnets = new ResnetBlock[n];
        Transformer[] transformers = attention ? new Transformer[n] : null;
        for (int j = 0; j < n; j++) {
          resnets[j] = resnet(p, name + ".resnets." + j, j == 0 ? inputChannels : outputChannels, outputChannels, 1.0);
          if (attention) {
            transformers[j] = transformer(p, name + ".attentions." + j, outputChannels, config.attentionHeads()[i]);
          }
        }
        Downsample downsample = null;
        if (i < levels - 1) {
          long pad = config.downsamplePadding();
          downsample = new Downsample(p.conv(name + ".downsamplers.0.conv", outputChannels, outputChannels, 3, 2, pad),
              pad == 0);
        }
        down[i] = new Level(resnets, transformers, downsample, null);
      }

      final long top = ch[levels - 1];
      final double midScale = config.midBlockScaleFactor();
      midResnet0 = resnet(p, "mid_block.resnets.0", top, top, midScale);
      midAttention = transformer(p, "mid_block.attentions.0", top, config.midHeads());
      midResnet1 = resnet(p, "mid_block.resnets.1", top, top, midScale);

      // Up level k mirrors down level levels-1-k; its last ResNet takes the skip of the level above.
      up = new Level[levels];
      outputChannels = top;
      for (int k = 0; k < levels; k++) {
        final long prevOutputChannels = outputChannels;
        outputChannels = ch[levels - 1 - k];
        final long skipInChannels = ch[Math.max(levels - 2 - k, 0)];
        String name = "up_blocks." + k;
        int n = Math.toIntExact(config.layersPerBlock() + 1);
        boolean attention = config.upWithAttention().get(k);
        ResnetBlock[] resnets = new ResnetBlock[n];
        Transformer[] transformers = attention ? new Transformer[n] : null;
        for (int j = 0; j < n; j++) {
          long skip = j == n - 1 ? skipInChannels : outputChannels;
          long in = (j == 0 ? prevOutputChannels : outputChannels) + skip;
          resnets[j] = resnet(p, name + ".resnets." + j, in, outputChannels, 1.0);
          if (attention) transformers[j] = transformer(p, name + ".attentions." + j, outputChannels, config.upHeads(k));
        }
        Upsample upsample = k < levels - 1
            ? new Upsample(p.conv(name + ".upsamplers.0.conv", outputChannels, outputChannels, 3, 1, 1)) : null;
        up[k] = new Level(resnets, transformers, null, upsample);
      }
      convNormOut = p.groupNorm("conv_norm_out", config.normNumGroups(), ch[0], config.normEps());
      convOut = p.conv("conv_out", ch[0], config.outChannels(), config.convOutKernel(), 1, (config.convOutKernel() - 1) / 2);
      reader.requireAllUsed(List.of());
      done = true;
    } finally {
      if (!done) release();
    }
  }

  private ResnetBlock resnet(Params p, String name, long in, long out, double outputScale) throws VisCpmException {
    return p.resnet(name, in, out, config.timeEmbedDim(), config.normNumGroups(), config.normEps(), outputScale);
  }

  private Transformer transformer(Params p, String name, long c, long heads) throws VisCpmException {
    final long ctx = config.crossAttentionDim();
    final double scale = 1.0 / Math.sqrt((double) (c / heads));
    GroupNorm norm = p.groupNorm(name + ".norm", config.normNumGroups(), c, 1e-6);
    Linear projInLinear = null, projOutLinear = null;
    Conv2d projInConv = null, projOutConv = null;
    if (config.useLinearProjection()) projInLinear = p.linear(name + ".proj_in", c, c, true);
    else projInConv = p.conv(name + ".proj_in", c, c, 1, 1, 0);
    String block = name + ".transformer_blocks.0.";
    LayerNorm norm1 = p.layerNorm(block + "norm1", c, 1e-5);
    Attention attn1 = attention(p, block + "attn1", c, c, heads, scale);
    LayerNorm norm2 = p.layerNorm(block + "norm2", c, 1e-5);
    Attention attn2 = attention(p, block + "attn2", c, ctx, heads, scale);
    LayerNorm norm3 = p.layerNorm(block + "norm3", c, 1e-5);
    Linear geglu = p.linear(block + "ff.net.0.proj", c, c * 8, true);
    Linear ffOut = p.linear(block + "ff.net.2", c * 4, c, true);
    if (config.useLinearProjection()) projOutLinear = p.linear(name + ".proj_out", c, c, true);
    else projOutConv = p.conv(name + ".proj_out", c, c, 1, 1, 0);
    return new Transformer(norm, projInLinear, projInConv, norm1, attn1, norm2, attn2, norm3, geglu, ffOut,
        projOutLinear, projOutConv);
  }

  private static Attention attention(Params p, String name, long queryDim, long contextDim, long heads, double scale)
      throws VisCpmException {
    return new Attention(p.linear(name + ".to_q", queryDim, queryDim, false),
        p.linear(name + ".to_k", contextDim, queryDim, false), p.linear(name + ".to_v", contextDim, queryDim, false),
        p.linear(name + ".to_out.0", queryDim, queryDim, true), heads, scale);
  }

  /** Loads the {@code prefix} keys of {@code checkpoint} ({@code unet.} in VisCPM-Paint) for {@code config}. */
  public static Unet load(UnetConfig config, Checkpoint checkpoint, String prefix, ScalarType dtype)
      throws VisCpmException {
    if (dtype != ScalarType.Float) {
      throw new UnsupportedFeatureException("the JVM engine's UNet runs in float32 only (the reference's dtype)");
    }
    Torch.load();
    return new Unet(config, checkpoint, prefix, dtype);
  }

  public UnetConfig config() {
    return config;
  }

  /**
   * sample {@code [B, in_channels, h, w]} (h, w multiples of the downsampling factor), timestep
   * a scalar or {@code [B]} (any real dtype, used as float32), context {@code [B, L,
   * cross_attention_dim]} -> the noise prediction {@code [B, out_channels, h, w]}; the caller
   * owns the result.
   */
  public Tensor forward(Tensor sample, Tensor timestep, Tensor context) throws VisCpmException {
    checkOpen();
    check(sample, timestep, context);
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      final long batch = sample.size(0);
      Tensor x = sample.to(dtype);
      Tensor ctx = context.to(dtype);
      Tensor timesteps = timestep.reshape(-1).expand(batch);
      // The sinusoid is float32, then cast to the model dtype.
      Tensor tEmb = sinusoid(timesteps, config.blockOutChannels()[0], config.flipSinToCos(), config.freqShift()).to(dtype);
      Tensor emb = timeLinear2.forward(torch.silu(timeLinear1.forward(tEmb)));
      if (config.centerInputSample()) x = x.mul(new Scalar(2.0)).sub(new Scalar(1.0));
      Tensor h = convIn.forward(x);
      Deque<Tensor> skips = new ArrayDeque<>();
      skips.push(h);
      for (Level level : down) {
        for (int j = 0; j < level.resnets.length; j++) {
          h = level.resnets[j].forward(h, emb);
          if (level.attentions != null) h = level.attentions[j].forward(h, ctx);
          skips.push(h);
        }
        if (level.downsample != null) {
          h = level.downsample.forward(h);
          skips.push(h);
        }
      }
      h = midResnet1.forward(midAttention.forward(midResnet0.forward(h, emb), ctx), emb);
      for (Level level : up) {
        for (int j = 0; j < level.resnets.length; j++) {
          // h first, then the most recently pushed skip.
          h = level.resnets[j].forward(Torch.cat(1, h, skips.pop()), emb);
          if (level.attentions != null) h = level.attentions[j].forward(h, ctx);
        }
        if (level.upsample != null) h = level.upsample.forward(h);
      }
      return Torch.keep(convOut.forward(convNormOut.forwardSilu(h)));
    }
  }

  /**
   * diffusers' get_timestep_embedding in the reference's operation order: float32 arange ·
   * (-ln 10000), / (half - shift), exp; t · freqs; [cos | sin] when flipped, else [sin | cos].
   */
  static Tensor sinusoid(Tensor timesteps, long dim, boolean flipSinToCos, long freqShift) {
    final long half = dim / 2;
    Tensor exponent = torch.arange(new Scalar(0L), new Scalar(half), Torch.options(ScalarType.Float))
        .mul(new Scalar(-Math.log(10000.0)));
    exponent = exponent.div(new Scalar((double) (half - freqShift)));
    Tensor angles = timesteps.reshape(-1, 1).to(ScalarType.Float).mul(torch.exp(exponent).unsqueeze(0));
    Tensor emb = flipSinToCos ? Torch.cat(-1, torch.cos(angles), torch.sin(angles))
        : Torch.cat(-1, torch.sin(angles), torch.cos(angles));
    if (dim % 2 == 1) emb = torch.constant_pad_nd(emb, new long[] {0, 1}, new Scalar(0.0));
    return emb;
  }

  private void check(Tensor sample, Tensor timestep, Tensor context) throws InvalidInputException {
    if (sample == null || sample.dim() != 4 || sample.size(1) != config.inChannels()) {
      throw new InvalidInputException("UNet sample must be [batch, " + config.inChannels() + ", height, width], got "
          + (sample == null ? "none" : Arrays.toString(Torch.shape(sample))));
    }
    if (!isFloating(sample)) throw new InvalidInputException("UNet sample must be a floating-point tensor");
    final long batch = sample.size(0), factor = config.downsamplingFactor();
    if (batch == 0 || sample.size(2) == 0 || sample.size(3) == 0 || sample.size(2) % factor != 0
        || sample.size(3) % factor != 0) {
      throw new InvalidInputException("UNet sample height and width must be positive multiples of " + factor + ", got "
          + Arrays.toString(Torch.shape(sample)));
    }
    if (context == null || context.dim() != 3 || context.size(0) != batch || context.size(1) == 0
        || context.size(2) != config.crossAttentionDim()) {
      throw new InvalidInputException("UNet encoder_hidden_states must be [" + batch + ", tokens, "
          + config.crossAttentionDim() + "] (cross_attention_dim), got "
          + (context == null ? "none" : Arrays.toString(Torch.shape(context))));
    }
    if (timestep == null || timestep.dim() > 1 || (timestep.numel() != 1 && timestep.numel() != batch)) {
      throw new InvalidInputException("UNet timestep must be a scalar or hold one value per batch row (" + batch
          + "), got " + (timestep == null ? "none" : Arrays.toString(Torch.shape(timestep))));
    }
  }

  static boolean isFloating(Tensor t) {
    ScalarType type = Torch.typeOf(t);
    return type == ScalarType.Float || type == ScalarType.Double || type == ScalarType.Half
        || type == ScalarType.BFloat16;
  }
}
