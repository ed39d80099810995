package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The golden case {@code beit3_forward} through the JVM engine (native/testkit/kinds/beit3_forward.cpp). */
class Beit3GoldenTest {
  @Test
  void beit3Forward() throws Exception {
    try (GoldenCase c = GoldenCase.named("beit3_forward");
        Checkpoint checkpoint = Checkpoint.open(c.checkpoint());
        VisionEncoder encoder = VisionEncoder.load(Beit3Config.load(c.modelConfig("beit3_config", "beit3.json")),
            checkpoint, ScalarType.Float);
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
      Tensor queries = encoder.encode(c.inputTensor("pixel_values"));
      c.compare("vision_query_outputs", queries);
      Tensor mapped = encoder.map(queries);
      c.compare("mapped", mapped);
      mapped.close();
      queries.close();
      c.assertPassed();
    }
  }
}
