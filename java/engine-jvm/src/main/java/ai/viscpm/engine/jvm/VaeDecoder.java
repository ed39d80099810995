package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import ai.viscpm.engine.jvm.DiffusionLayers.Conv2d;
import ai.viscpm.engine.jvm.DiffusionLayers.GroupNorm;
import ai.viscpm.engine.jvm.DiffusionLayers.Linear;
import ai.viscpm.engine.jvm.DiffusionLayers.Params;
import ai.viscpm.engine.jvm.DiffusionLayers.ResnetBlock;
import ai.viscpm.engine.jvm.DiffusionLayers.Upsample;
import ai.viscpm.internal.NativeLibrary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The AutoencoderKL decoder of Stable Diffusion 2.1-base (vae.md; diffusers 0.15):
 * post_quant_conv, decoder.conv_in, the mid block (ResNet, single-head attention over all
 * pixels, ResNet), the up blocks (ResNets, nearest x2 + conv), GroupNorm + SiLU, conv_out; and
 * the reference's latent scaling and image conversions. Keys: diffusers 0.15
 * ({@code query/key/value/proj_attn}) or later diffusers ({@code to_q/to_k/to_v/to_out.0});
 * {@code encoder.*} and {@code quant_conv.*} are not used (text-to-image never encodes). Every
 * VAE group norm uses eps 1e-6. Owns its weights; the methods may run on several threads.
 */
public final class VaeDecoder extends NativeOwner {
  private static final double NORM_EPS = 1e-6;
  static final List<String> IGNORED_PREFIXES = List.of("encoder.", "quant_conv.");

  private final VaeConfig config;
  private final ScalarType dtype;

  private final Conv2d postQuantConv, convIn, convOut;
  private final ResnetBlock midResnet0, midResnet1;
  private final MidAttention midAttention;
  private final ResnetBlock[][] upResnets;
  private final Upsample[] upsamplers;
  private final GroupNorm convNormOut;

  /** diffusers 0.15 AttentionBlock: one head of full width, softmax in float32. */
  private record MidAttention(GroupNorm norm, Linear query, Linear key, Linear value, Linear proj, double scale) {
    Tensor forward(Tensor x) {
      final long b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
      Tensor h = norm.forward(x).view(b, c, height * width).transpose(1, 2);
      Tensor o = DiffusionLayers.attention(query.forward(h), key.forward(h), value.forward(h), scale);
      return proj.forward(o).transpose(-1, -2).reshape(b, c, height, width).add(x);
    }
  }

  private VaeDecoder(VaeConfig config, Checkpoint weights, ScalarType dtype) throws VisCpmException {
    super("the VAE decoder");
    this.config = config;
    this.dtype = dtype;
    final long[] ch = config.blockOutChannels();
    final int levels = config.levels();
    final long top = ch[levels - 1], groups = config.normNumGroups(), latent = config.latentChannels();
    boolean done = false;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      WeightReader reader = new WeightReader(weights, "", dtype, "VAE decoder");
      Params p = new Params(reader, owned);
      postQuantConv = p.conv("post_quant_conv", latent, latent, 1, 1, 0);
      convIn = p.conv("decoder.conv_in", latent, top, 3, 1, 1);
      midResnet0 = p.resnet("decoder.mid_block.resnets.0", top, top, 0, groups, NORM_EPS, 1.0);
      String a = "decoder.mid_block.attentions.0.";
      boolean newNames = p.has(a + "to_q.weight");
      midAttention = new MidAttention(p.groupNorm(a + "group_norm", groups, top, NORM_EPS),
          p.linear(a + (newNames ? "to_q" : "query"), top, top, true),
          p.linear(a + (newNames ? "to_k" : "key"), top, top, true),
          p.linear(a + (newNames ? "to_v" : "value"), top, top, true),
          p.linear(a + (newNames ? "to_out.0" : "proj_attn"), top, top, true), 1.0 / Math.sqrt((double) top));
      midResnet1 = p.resnet("decoder.mid_block.resnets.1", top, top, 0, groups, NORM_EPS, 1.0);

      // Up level k goes from the previous level's output to channels[levels-1-k].
      upResnets = new ResnetBlock[levels][];
      upsamplers = new Upsample[levels - 1];
      long outputChannels = top;
      for (int k = 0; k < levels; k++) {
        final long prev = outputChannels;
        outputChannels = ch[levels - 1 - k];
        int n = Math.toIntExact(config.layersPerBlock() + 1);
        upResnets[k] = new ResnetBlock[n];
        for (int j = 0; j < n; j++) {
          upResnets[k][j] = p.resnet("decoder.up_blocks." + k + ".resnets." + j, j == 0 ? prev : outputChannels,
              outputChannels, 0, groups, NORM_EPS, 1.0);
        }
        if (k < levels - 1) {
          upsamplers[k] = new Upsample(p.conv("decoder.up_blocks." + k + ".upsamplers.0.conv", outputChannels,
              outputChannels, 3, 1, 1));
        }
      }
      convNormOut = p.groupNorm("decoder.conv_norm_out", groups, ch[0], NORM_EPS);
      convOut = p.conv("decoder.conv_out", ch[0], config.outChannels(), 3, 1, 1);
      reader.requireAllUsed(IGNORED_PREFIXES);
      done = true;
    } finally {
      if (!done) release();
    }
  }

  /** post_quant_conv.* and decoder.* of {@code weights} (a diffusers VAE safetensors file, or any checkpoint). */
  public static VaeDecoder load(VaeConfig config, Checkpoint weights, ScalarType dtype) throws VisCpmException {
    if (dtype != ScalarType.Float) {
      throw new UnsupportedFeatureException("the JVM engine's VAE decoder runs in float32 only (the reference's dtype)");
    }
    Torch.load();
    return new VaeDecoder(config, weights, dtype);
  }

  /**
   * A diffusers {@code vae} folder: config.json and diffusion_pytorch_model.safetensors (as
   * diffusers prefers), else diffusion_pytorch_model.bin.
   */
  public static VaeDecoder load(Path vaeDir, ScalarType dtype) throws VisCpmException {
    if (!Files.isDirectory(vaeDir)) throw new ResourceNotFoundException("VAE folder not found: " + vaeDir);
    VaeConfig config = VaeConfig.load(vaeDir.resolve("config.json"));
    Path weights = vaeDir.resolve("diffusion_pytorch_model.safetensors");
    if (!Files.exists(weights)) weights = vaeDir.resolve("diffusion_pytorch_model.bin");
    if (!Files.exists(weights)) {
      throw new ResourceNotFoundException(vaeDir + " holds neither diffusion_pytorch_model.safetensors nor .bin");
    }
    try (Checkpoint checkpoint = Checkpoint.open(weights)) {
      return load(config, checkpoint, dtype);
    }
  }

  public VaeConfig config() {
    return config;
  }

  /**
   * z {@code [B, latent_channels, h, w]}, already divided by the scaling factor -> the image
   * {@code [B, out_channels, f·h, f·w]} in nominal range [-1, 1]; the caller owns the result.
   */
  public Tensor decode(Tensor z) throws VisCpmException {
    checkOpen();
    if (z == null || z.dim() != 4 || z.size(1) != config.latentChannels() || z.size(0) == 0 || z.size(2) == 0
        || z.size(3) == 0) {
      throw new InvalidInputException("VAE latents must be [batch, " + config.latentChannels()
          + ", height, width] with positive sizes, got " + (z == null ? "none" : Arrays.toString(Torch.shape(z))));
    }
    if (!Unet.isFloating(z)) throw new InvalidInputException("VAE latents must be floating-point");
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor h = convIn.forward(postQuantConv.forward(z.to(dtype)));
      h = midResnet1.forward(midAttention.forward(midResnet0.forward(h, null)), null);
      for (int k = 0; k < upResnets.length; k++) {
        for (ResnetBlock resnet : upResnets[k]) h = resnet.forward(h, null);
        if (k < upsamplers.length) h = upsamplers[k].forward(h);
      }
      return Torch.keep(convOut.forward(convNormOut.forwardSilu(h)));
    }
  }

  /**
   * The pipeline's decode: {@code decode(latents * float32(1 / scaling_factor))} (the reference
   * multiplies by the reciprocal, a Python float applied as a float32 scalar).
   */
  public Tensor decodeLatents(Tensor latents) throws VisCpmException {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      return decode(latents.mul(new Scalar((double) (float) (1.0 / config.scalingFactor()))));
    }
  }

  /** {@code clamp(sample / 2 + 0.5, 0, 1)} as float32 NHWC; the caller owns the result. */
  public static Tensor toImageFloat(Tensor sample) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor x = sample.to(ScalarType.Float).div(new Scalar(2.0)).add(new Scalar(0.5));
      x = x.clamp(new ScalarOptional(new Scalar(0.0)), new ScalarOptional(new Scalar(1.0)));
      return Torch.keep(x.permute(0, 2, 3, 1));
    }
  }

  /** {@code round_half_even(image_float * 255)} as uint8; the caller owns the result. */
  public static Tensor toUint8(Tensor imageFloat) {
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      return Torch.keep(torch.round(imageFloat.to(ScalarType.Float).mul(new Scalar(255.0))).to(ScalarType.Byte));
    }
  }
}
