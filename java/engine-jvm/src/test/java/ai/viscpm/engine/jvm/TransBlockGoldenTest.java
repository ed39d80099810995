package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The golden case {@code trans_block} through the JVM engine (native/testkit/kinds/trans_block.cpp). */
class TransBlockGoldenTest {
  @Test
  void transBlock() throws Exception {
    try (GoldenCase c = GoldenCase.named("trans_block");
        Checkpoint checkpoint = Checkpoint.open(c.checkpoint());
        TransBlock block = TransBlock.load(checkpoint, c.params().path("checkpoint_prefix").asText("trans_block."),
            ScalarType.Float);
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
      for (String which : new String[] {"cond", "uncond"}) {
        Tensor out = block.forward(c.inputTensor(which + "_hidden_states"));
        c.compare(which + "_out", out);
        out.close();
      }
      c.assertPassed();
    }
  }
}
