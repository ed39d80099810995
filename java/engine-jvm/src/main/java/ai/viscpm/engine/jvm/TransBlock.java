package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * VisCPM-Paint's CPMBeeTransBlock (paint.md): {@code LayerNorm(eps 1e-6)(x · w_out_resᵀ)}, the
 * map from CPM-Bee hidden states to the UNet's cross-attention width. Sizes come from the
 * checkpoint ({@code w_out_res.weight [cross_attention_dim, dim_model]}). Owns its weights.
 */
public final class TransBlock extends NativeOwner {
  private static final double EPS = 1e-6;
  private final Tensor weight;  // [C, D]
  private final TensorOptional normWeight, normBias;
  private final long dimModel, dimOut;
  private final ScalarType dtype;

  private TransBlock(Checkpoint checkpoint, String prefix, ScalarType dtype) throws VisCpmException {
    super("the trans block");
    this.dtype = dtype;
    TensorInfo w = checkpoint.tensors().stream().filter(t -> t.name().equals(prefix + "w_out_res.weight")).findFirst()
        .orElseThrow(() -> new FormatException("checkpoint has no \"" + prefix + "w_out_res.weight\" (trans block)"));
    if (w.shape().length != 2) throw new FormatException("\"" + w.name() + "\" must be 2-D, got " + w.shapeString());
    dimOut = w.shape()[0];
    dimModel = w.shape()[1];
    boolean done = false;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      WeightReader reader = new WeightReader(checkpoint, prefix, dtype, "trans block");
      weight = own(reader.read("w_out_res.weight", dimOut, dimModel));
      normWeight = own(new TensorOptional(own(reader.read("layernorm.weight", dimOut))));
      normBias = own(new TensorOptional(own(reader.read("layernorm.bias", dimOut))));
      reader.requireAllUsed(List.of());
      done = true;
    } finally {
      if (!done) release();
    }
  }

  /** The {@code prefix} keys ({@code trans_block.} in VisCPM-Paint checkpoints), in {@code dtype}. */
  public static TransBlock load(Checkpoint checkpoint, String prefix, ScalarType dtype) throws VisCpmException {
    Torch.load();
    return new TransBlock(checkpoint, prefix, dtype);
  }

  public long dimModel() {
    return dimModel;
  }

  public long dimOut() {
    return dimOut;
  }

  /** hidden [..., dim_model] -> [..., cross_attention_dim]; the caller owns the result. */
  public Tensor forward(Tensor hidden) throws VisCpmException {
    checkOpen();
    if (hidden.dim() < 1 || hidden.size(-1) != dimModel) {
      throw new InvalidInputException("trans block input must have " + dimModel
          + " (CPM-Bee dim_model) features in its last dimension");
    }
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor projected = torch.linear(hidden.to(dtype), weight);
      return Torch.keep(torch.layer_norm(projected, new long[] {dimOut}, normWeight, normBias, EPS, false));
    }
  }
}
