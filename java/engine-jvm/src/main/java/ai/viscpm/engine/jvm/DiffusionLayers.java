package ai.viscpm.engine.jvm;

import ai.viscpm.VisCpmException;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The building blocks the UNet and the VAE decoder share (diffusers 0.15: Conv2d, Linear,
 * GroupNorm, LayerNorm, ResnetBlock2D, Downsample2D, Upsample2D, the attention of the
 * transformer blocks), as immutable records over weights their model owns. Every forward
 * runs in the caller's PointerScope (the model's entry point opens one).
 */
final class DiffusionLayers {
  private DiffusionLayers() {}

  private static final long[] ONE = {1, 1};

  /** y = x Wᵀ (+ b), W [out, in]. */
  record Linear(Tensor weight, TensorOptional bias) {
    Tensor forward(Tensor x) {
      return torch.linear(x, weight, bias);
    }
  }

  /** 2-D cross-correlation with bias, square kernel, symmetric zero padding. */
  record Conv2d(Tensor weight, TensorOptional bias, long[] stride, long[] padding) {
    Tensor forward(Tensor x) {
      return torch.conv2d(x, weight, bias, stride, padding, ONE, 1);
    }
  }

  /** Affine GroupNorm over [B, C, ...]. */
  record GroupNorm(long groups, TensorOptional weight, TensorOptional bias, double eps) {
    Tensor forward(Tensor x) {
      return torch.group_norm(x, groups, weight, bias, eps, false);
    }

    /** SiLU(GroupNorm(x)), the norm -> activation pair of the ResNet blocks and the outputs. */
    Tensor forwardSilu(Tensor x) {
      return torch.silu(forward(x));
    }
  }

  /** Affine LayerNorm over the last axis. */
  record LayerNorm(long[] shape, TensorOptional weight, TensorOptional bias, double eps) {
    Tensor forward(Tensor x) {
      return torch.layer_norm(x, shape, weight, bias, eps, false);
    }
  }

  /**
   * ResnetBlock2D: h = conv1(SiLU(norm1(x))) [+ time_emb_proj(SiLU(temb))]; h =
   * conv2(SiLU(norm2(h))); out = (shortcut(x) + h) / output_scale_factor. {@code shortcut}
   * (1x1) exists only when the channel count changes; {@code timeProjection} only in the UNet.
   */
  record ResnetBlock(GroupNorm norm1, Conv2d conv1, Linear timeProjection, GroupNorm norm2, Conv2d conv2,
                     Conv2d shortcut, double outputScaleFactor) {
    Tensor forward(Tensor x, Tensor temb) {
      Tensor h = conv1.forward(norm1.forwardSilu(x));
      if (timeProjection != null) {
        // A per-channel shift from the (already embedded) timestep.
        h = h.add(timeProjection.forward(torch.silu(temb)).unsqueeze(-1).unsqueeze(-1));
      }
      h = conv2.forward(norm2.forwardSilu(h));
      Tensor out = (shortcut != null ? shortcut.forward(x) : x).add(h);
      if (outputScaleFactor != 1.0) out = out.div(new Scalar(outputScaleFactor));
      return out;
    }
  }

  /** Downsample2D: conv 3x3 stride 2; padding 0 pads right and bottom by one first (diffusers). */
  record Downsample(Conv2d conv, boolean asymmetricPad) {
    Tensor forward(Tensor x) {
      if (asymmetricPad) return conv.forward(torch.constant_pad_nd(x, new long[] {0, 1, 0, 1}, new Scalar(0.0)));
      return conv.forward(x);
    }
  }

  /** Upsample2D: nearest-neighbour x2 (each pixel repeated 2x2: exactly interpolate(scale 2)), conv 3x3. */
  record Upsample(Conv2d conv) {
    Tensor forward(Tensor x) {
      final long b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
      Tensor up = x.reshape(b, c, h, 1, w, 1).expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w);
      return conv.forward(up);
    }
  }

  /** [B, N, H·d] -> [B·H, N, d] (head h owns channels h·d ... h·d+d-1), diffusers' order. */
  static Tensor headsToBatch(Tensor x, long heads) {
    final long b = x.size(0), n = x.size(1), d = x.size(2) / heads;
    return x.reshape(b, n, heads, d).permute(0, 2, 1, 3).reshape(b * heads, n, d);
  }

  /** [B·H, N, d] -> [B, N, H·d]. */
  static Tensor batchToHeads(Tensor x, long heads) {
    final long b = x.size(0) / heads, n = x.size(1), d = x.size(2);
    return x.reshape(b, heads, n, d).permute(0, 2, 1, 3).reshape(b, n, heads * d);
  }

  /**
   * The reference attention (diffusers 0.15 get_attention_scores / AttentionBlock): the scale is
   * applied by baddbmm to the product (beta 0), not to q beforehand; softmax over the keys; float32.
   */
  static Tensor attention(Tensor q, Tensor k, Tensor v, double scale) {
    Tensor scores = Torch.empty(Torch.typeOf(q), q.size(0), q.size(1), k.size(1));
    scores = torch.baddbmm(scores, q, k.transpose(-1, -2), new Scalar(0.0), new Scalar(scale));
    return torch.bmm(torch.softmax(scores, -1), v);
  }

  /** torch.cat along {@code dim}. */
  static Tensor cat(long dim, List<Tensor> parts) {
    return torch.cat(new TensorVector(parts.toArray(new Tensor[0])), dim);
  }

  /**
   * Reads parameters named like the diffusers modules into tensors the model owns (every kept
   * object goes to {@code owned}, which the model closes).
   */
  static final class Params {
    private final WeightReader reader;
    private final List<Pointer> owned;

    Params(WeightReader reader, List<Pointer> owned) {
      this.reader = reader;
      this.owned = owned;
    }

    <P extends Pointer> P own(P p) {
      owned.add(Torch.keep(p));
      return p;
    }

    Tensor tensor(String name, long... shape) throws VisCpmException {
      return own(reader.read(name, shape));
    }

    TensorOptional optional(String name, long... shape) throws VisCpmException {
      return own(new TensorOptional(tensor(name, shape)));
    }

    Linear linear(String name, long in, long out, boolean bias) throws VisCpmException {
      return new Linear(tensor(name + ".weight", out, in), bias ? optional(name + ".bias", out) : own(new TensorOptional()));
    }

    Conv2d conv(String name, long in, long out, long kernel, long stride, long padding) throws VisCpmException {
      return new Conv2d(tensor(name + ".weight", out, in, kernel, kernel), optional(name + ".bias", out),
          new long[] {stride, stride}, new long[] {padding, padding});
    }

    GroupNorm groupNorm(String name, long groups, long channels, double eps) throws VisCpmException {
      return new GroupNorm(groups, optional(name + ".weight", channels), optional(name + ".bias", channels), eps);
    }

    LayerNorm layerNorm(String name, long width, double eps) throws VisCpmException {
      return new LayerNorm(new long[] {width}, optional(name + ".weight", width), optional(name + ".bias", width), eps);
    }

    /** ResnetBlock2D under {@code name}; {@code tembChannels} 0: no time embedding (VAE). */
    ResnetBlock resnet(String name, long in, long out, long tembChannels, long groups, double eps, double outputScale)
        throws VisCpmException {
      GroupNorm norm1 = groupNorm(name + ".norm1", groups, in, eps);
      Conv2d conv1 = conv(name + ".conv1", in, out, 3, 1, 1);
      Linear time = tembChannels > 0 ? linear(name + ".time_emb_proj", tembChannels, out, true) : null;
      GroupNorm norm2 = groupNorm(name + ".norm2", groups, out, eps);
      Conv2d conv2 = conv(name + ".conv2", out, out, 3, 1, 1);
      Conv2d shortcut = in != out ? conv(name + ".conv_shortcut", in, out, 1, 1, 0) : null;
      return new ResnetBlock(norm1, conv1, time, norm2, conv2, shortcut, outputScale);
    }

    /** Whether the reader has {@code name} (for alternative key spellings). */
    boolean has(String name) {
      return reader.has(name);
    }
  }
}
