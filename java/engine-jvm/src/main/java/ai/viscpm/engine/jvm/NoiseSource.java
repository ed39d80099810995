package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Where a scheduler's random draws come from. The reference draws every scheduler noise with
 * {@code randn(model_output.shape, generator, dtype=model_output.dtype)} from one CPU {@code
 * torch.Generator}; {@link #generator} does exactly that with LibTorch's CPU generator (the same
 * MT19937 and Box-Muller code as the reference's and the native engine's, so the same seed gives
 * the same bits). {@link #replay} injects recorded draws, {@link Recording} keeps every draw.
 *
 * <p>{@code randn} returns a tensor in the caller's PointerScope.
 */
public interface NoiseSource {
  Tensor randn(long[] shape, ScalarType dtype) throws InvalidInputException;

  /**
   * A CPU generator seeded like {@code torch.Generator().manual_seed(seed)}; the caller owns it
   * (close it when done). Create it outside any PointerScope that closes before its last use.
   */
  static Generator cpuGenerator(long seed) {
    Torch.load();
    Generator generator = torch.createCPUGenerator(seed);
    generator.set_current_seed(seed);  // as manual_seed: also clears the cached normal
    return generator;
  }

  /** Draws from {@code generator} (a CPU generator), as diffusers' randn_tensor does. */
  static NoiseSource generator(Generator generator) {
    return (shape, dtype) -> {
      GeneratorOptional g = new GeneratorOptional(generator);
      return torch.randn(shape, g, Torch.options(dtype));
    };
  }

  /**
   * Returns {@code draws} in order (converted to the dtype asked for); an InvalidInputException
   * when they run out or a shape does not match. The caller keeps owning {@code draws}.
   */
  static NoiseSource replay(List<Tensor> draws) {
    return new NoiseSource() {
      private int next;

      @Override
      public Tensor randn(long[] shape, ScalarType dtype) throws InvalidInputException {
        if (next >= draws.size()) {
          throw new InvalidInputException("recorded noise exhausted: the scheduler asked for draw " + (next + 1)
              + " but only " + draws.size() + " were given");
        }
        Tensor draw = draws.get(next);
        if (!Arrays.equals(Torch.shape(draw), shape)) {
          throw new InvalidInputException("recorded noise draw " + (next + 1) + " has shape "
              + Arrays.toString(Torch.shape(draw)) + ", the scheduler needs " + Arrays.toString(shape));
        }
        next++;
        return new Tensor(draw).to(dtype);
      }
    };
  }

  /** Forwards to another source and keeps every draw in order; {@code close()} frees them. */
  final class Recording implements NoiseSource, AutoCloseable {
    private final NoiseSource inner;
    private final List<Tensor> draws = new ArrayList<>();

    public Recording(NoiseSource inner) {
      this.inner = inner;
    }

    @Override
    public Tensor randn(long[] shape, ScalarType dtype) throws InvalidInputException {
      Tensor draw = inner.randn(shape, dtype);
      draws.add(Torch.keep(new Tensor(draw)));
      return draw;
    }

    /** The draws so far (owned by this object). */
    public List<Tensor> draws() {
      return List.copyOf(draws);
    }

    @Override
    public void close() {
      for (Tensor t : draws) t.close();
      draws.clear();
    }
  }
}
