package ai.viscpm.engine.jvm;

import ai.viscpm.text.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;

/** The golden case {@code paint_input} through the JVM engine's {@link PaintPrompt} (native/testkit/kinds/paint_input.cpp). */
class PaintPromptGoldenTest {
  @Test
  void paintInput() throws Exception {
    try (GoldenCase c = GoldenCase.named("paint_input");
        Tokenizer tokenizer = Tokenizer.load(c.root.resolve(c.manifest.path("vocab").asText()));
        PointerScope scope = new PointerScope()) {
      JsonNode in = c.inputsJson();
      JsonNode negative = in.path("negative_prompt");
      PaintPrompt p = PaintPrompt.build(tokenizer, in.path("prompt").asText(), negative.isTextual() ? negative.asText() : "");
      compare(c, "cond.", p.cond());
      compare(c, "uncond.", p.uncond());
      c.assertPassed();
    }
  }

  static void compare(GoldenCase c, String prefix, CpmBeeInputs f) throws Exception {
    long l = f.length();
    c.compare(prefix + "input_ids", Torch.longs(f.inputIds(), 1, l));
    c.compare(prefix + "input_id_subs", Torch.longs(f.inputIdSubs(), 1, l));
    c.compare(prefix + "context", Torch.longs(f.context(), 1, l));
    c.compare(prefix + "segment_ids", Torch.longs(f.segmentIds(), 1, l));
    c.compare(prefix + "segment_rel_offset", Torch.longs(f.segmentRelOffset(), 1, l));
    c.compare(prefix + "segment_rel", Torch.longs(f.segmentRel(), 1, f.segmentRelWidth()));
    c.compare(prefix + "sample_ids", Torch.longs(f.sampleIds(), 1, l));
    c.compare(prefix + "num_segments", Torch.longs(f.numSegments(), 1, l));
    c.compare(prefix + "length", Torch.longs(f.lengths(), 1));
    c.compare(prefix + "span", Torch.longs(f.span(), 1, l));
    c.compare(prefix + "ext_table_ids", Torch.longs(f.extTableIds(), f.extTableIds().length));
    c.compare(prefix + "ext_table_sub", Torch.longs(f.extTableSub(), f.extTableSub().length));
    c.compare(prefix + "image_bound", Torch.longs(new long[0], 1, 0, 2));  // no image segment in a paint prompt
  }
}
