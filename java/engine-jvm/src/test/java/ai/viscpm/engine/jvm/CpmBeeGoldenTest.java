package ai.viscpm.engine.jvm;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The golden cases {@code cpmbee_forward} and {@code cpmbee_incremental} through the JVM
 * engine, computed as native/testkit/kinds/cpmbee_*.cpp computes them for the native engine,
 * compared with the manifest's tolerances.
 */
class CpmBeeGoldenTest {

  private static CpmBeeInputs forwardInputs(GoldenCase c, String prefix, String positions, String sampleIds,
      String extIds, String extSubs, boolean fullPass) throws Exception {
    long[] shape = c.inputShape(prefix + "input_ids");
    int rows = Math.toIntExact(shape[0]), length = Math.toIntExact(shape[1]);
    long[] relShape = c.inputShape(prefix + "segment_rel");
    return new CpmBeeInputs(rows, length,
        c.inputLongs(prefix + "input_ids"),
        c.inputLongs(prefix + "input_id_subs"),
        positions == null ? null : c.inputLongs(prefix + positions),
        c.inputLongs(prefix + "context"),
        c.inputLongs(prefix + sampleIds),
        c.inputLongs(prefix + "num_segments"),
        c.inputLongs(prefix + "segment_ids"),
        c.inputLongs(prefix + "segment_rel_offset"),
        c.inputLongs(prefix + "segment_rel"),
        Math.toIntExact(relShape[1]),
        c.inputLongs(prefix + extIds),
        c.inputLongs(prefix + extSubs),
        fullPass && c.hasInput(prefix + "length") ? c.inputLongs(prefix + "length") : null,
        fullPass && c.hasInput(prefix + "span") ? c.inputLongs(prefix + "span") : null);
  }

  @Test
  void cpmbeeForward() throws Exception {
    try (GoldenCase c = GoldenCase.named("cpmbee_forward");
        CpmBee bee = CpmBee.load(c.cpmBeeConfig(), c.checkpoint(), c.params().path("checkpoint_prefix").asText("llm."));
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
      CpmBeeInputs in = forwardInputs(c, "", null, "sample_ids", "ext_table_ids", "ext_table_sub", true);
      try (CpmBeeOutput out = bee.forward(in, null, CpmBee.Logits.ALL)) {
        Tensor logits = out.logits();
        Tensor columns = Torch.longs(c.expectedLongs("logits_columns"), c.expectedLongs("logits_columns").length);
        c.compare("input_embedding", out.inputEmbedding());
        c.compare("hidden_states", out.hiddenStates());
        c.compare("logits_columns", columns);  // the fixture's choice of columns, used as given
        c.compare("logits_at_columns", logits.index_select(-1, columns));
        c.compare("logits_logsumexp", torch.logsumexp(logits, -1));
        c.compare("logits_argmax", logits.argmax(new LongOptional(-1), false));
        c.compare("logits_last2", logits.narrow(1, logits.size(1) - 2, 2));
      }
      c.assertPassed();
    }
  }

  @Test
  void cpmbeeIncremental() throws Exception {
    try (GoldenCase c = GoldenCase.named("cpmbee_incremental");
        CpmBee bee = CpmBee.load(c.cpmBeeConfig(), c.checkpoint(), c.params().path("checkpoint_prefix").asText("llm."));
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
      CpmBeeInputs prompt = forwardInputs(c, "prompt.", "input_pos", "sample_idx", "batch_ext_table_ids",
          "batch_ext_table_sub", false);
      long[] bound = c.inputLongs("prompt.image_bound");
      long[] stepIds = c.inputLongs("step_token_ids"), stepSubs = c.inputLongs("step_token_subs");
      long answerSegment = c.params().path("answer_segment_id").asLong();
      var stepPositions = c.params().path("step_positions");
      int len = prompt.length(), steps = stepIds.length;
      if (stepPositions.size() != steps) throw new AssertionError("params.step_positions and step_token_ids differ in length");

      // Prefill with the image states spliced into the prompt embedding.
      Tensor embedding = bee.embed(prompt.inputIds(), prompt.inputIdSubs(), 1, len);
      CpmBee.spliceImageStates(embedding, bound[0], bound[1], c.inputTensor("vision_hidden_states"));
      try (KvCache cache = bee.newCache(1, len + steps)) {
        try (CpmBeeOutput prefill = bee.prefill(prompt, cache, embedding, CpmBee.Logits.LAST)) {
          c.compare("prefill_input_embedding", prefill.inputEmbedding());
          c.compare("prefill_hidden_states", prefill.hiddenStates());
          c.compare("prefill_logits_last", prefill.logits());
        }
        // One token at a time (context 1, sample 0, the last prompt token's num_segments/offset).
        CpmBeeOutput[] outs = new CpmBeeOutput[steps];
        Tensor[] hidden = new Tensor[steps], logits = new Tensor[steps];
        try {
          for (int i = 0; i < steps; i++) {
            outs[i] = bee.step(StepInputs.of(new long[] {stepIds[i]}, new long[] {stepSubs[i]},
                new long[] {stepPositions.get(i).asLong()}, new long[] {answerSegment}), cache);
            hidden[i] = outs[i].hiddenStates();
            logits[i] = outs[i].logits();
          }
          c.compare("step_hidden_states", Torch.cat(0, hidden));
          c.compare("step_logits", Torch.cat(0, logits));
        } finally {
          for (CpmBeeOutput o : outs) {
            if (o != null) o.close();
          }
        }
      }

      // The full forward over prompt + steps, the steps as non-context answer tokens.
      int total = len + steps;
      long last = len - 1;
      long[] ids = append(prompt.inputIds(), stepIds), subs = append(prompt.inputIdSubs(), stepSubs);
      CpmBeeInputs full = new CpmBeeInputs(1, total, ids, subs, null,
          append(prompt.context(), new long[steps]),
          append(prompt.sampleIds(), new long[steps]),
          append(prompt.numSegments(), repeat(prompt.numSegments()[(int) last], steps)),
          append(prompt.segmentIds(), repeat(answerSegment, steps)),
          append(prompt.segmentRelOffset(), repeat(prompt.segmentRelOffset()[(int) last], steps)),
          prompt.segmentRel(), prompt.segmentRelWidth(), prompt.extTableIds(), prompt.extTableSub(), null, null);
      Tensor stepEmbedding = bee.embed(stepIds, stepSubs, 1, steps);
      Tensor fullEmbedding = Torch.cat(1, embedding, stepEmbedding);
      stepEmbedding.close();
      try (CpmBeeOutput forward = bee.forward(full, fullEmbedding, CpmBee.Logits.ALL)) {
        long[] columnIds = c.expectedLongs("logits_columns");
        Tensor columns = Torch.longs(columnIds, columnIds.length);
        c.compare("logits_columns", columns);
        c.compare("full_forward_hidden_states", forward.hiddenStates().narrow(1, len, steps));
        c.compare("full_forward_logits_at_columns",
            forward.logits().select(0, 0).narrow(0, len, steps).index_select(-1, columns));
      }
      embedding.close();
      c.assertPassed();
    }
  }

  private static long[] append(long[] head, long[] tail) {
    long[] out = java.util.Arrays.copyOf(head, head.length + tail.length);
    System.arraycopy(tail, 0, out, head.length, tail.length);
    return out;
  }

  private static long[] repeat(long value, int n) {
    long[] out = new long[n];
    java.util.Arrays.fill(out, value);
    return out;
  }
}
