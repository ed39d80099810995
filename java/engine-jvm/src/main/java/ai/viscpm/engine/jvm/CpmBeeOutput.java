package ai.viscpm.engine.jvm;

import org.bytedeco.pytorch.Tensor;

/**
 * What one CPM-Bee call returns; owns its tensors ({@link #close()} frees them).
 *
 * @param inputEmbedding {@code [B, L, D]} the embeddings fed to layer 0 (after any override);
 *     null for single-token steps
 * @param hiddenStates {@code [B, L, D]} after the output RMSNorm ({@code [B, D]} for a step)
 * @param logits all rows {@code [B, L, V+E]}, the last row {@code [B, V+E]}, or null when
 *     none were asked for
 */
public record CpmBeeOutput(Tensor inputEmbedding, Tensor hiddenStates, Tensor logits) implements AutoCloseable {
  @Override
  public void close() {
    for (Tensor t : new Tensor[] {inputEmbedding, hiddenStates, logits}) {
      if (t != null) t.close();
    }
  }
}
