package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.InvalidInputException;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Ownership: a decode loop whose outputs are closed leaves no native object behind (JavaCPP's
 * count of live pointers does not grow), results outlive the call's scope, and closed objects
 * refuse further use.
 */
class CpmBeeResourceTest {
  @Test
  void stepsInALoopLeakNothing() throws Exception {
    try (GoldenCase c = GoldenCase.named("cpmbee_incremental");
        CpmBee bee = CpmBee.load(c.cpmBeeConfig(), c.checkpoint(), "llm.")) {
      CpmBeeInputs prompt = new CpmBeeInputs(1, 3, new long[] {1, 2, 3}, new long[3], new long[] {0, 1, 2},
          new long[] {1, 1, 1}, new long[3], new long[] {1, 1, 1}, new long[3], new long[3], new long[] {0}, 1,
          null, null, null, null);
      try (KvCache cache = bee.newCache(1, 64)) {
        bee.prefill(prompt, cache, null, CpmBee.Logits.NONE).close();
        long before = 0;
        for (int i = 0; i < 40; i++) {
          if (i == 10) before = Pointer.totalCount();
          try (CpmBeeOutput out = bee.step(StepInputs.of(new long[] {5 + i}, new long[] {0}, new long[] {i},
              new long[] {0}), cache)) {
            Tensor logits = out.logits();
            assertEquals(bee.config().vocabSize(), logits.size(1));  // usable after the call's scope closed
          }
        }
        long after = Pointer.totalCount();
        assertTrue(after <= before, "native objects leaked by 30 steps: " + before + " -> " + after);
        assertEquals(43, cache.length());
        // A full cache is refused, not overrun.
        cache.clear();
        assertEquals(0, cache.length());
        assertThrows(InvalidInputException.class,
            () -> bee.step(StepInputs.of(new long[] {1}, new long[] {0}, new long[] {0}, new long[] {0}), cache));
      }
      assertThrows(InvalidInputException.class, () -> bee.embed(new long[] {bee.config().vocabSize()}, new long[1], 1, 1));
    }
  }

  /** Reordered rows continue exactly as a cache that saw only the chosen row's history. */
  @Test
  void reorderedRowsContinueTheirHistory() throws Exception {
    try (GoldenCase c = GoldenCase.named("cpmbee_incremental");
        CpmBee bee = CpmBee.load(c.cpmBeeConfig(), c.checkpoint(), "llm.")) {
      long[] ids = {1, 2, 3};
      CpmBeeInputs two = prompt(2, ids), one = prompt(1, ids);
      try (KvCache beams = bee.newCache(2, 16); KvCache single = bee.newCache(1, 16)) {
        bee.prefill(two, beams, null, CpmBee.Logits.NONE).close();
        bee.prefill(one, single, null, CpmBee.Logits.NONE).close();
        bee.step(StepInputs.of(new long[] {10, 20}, new long[2], new long[] {0, 0}, new long[2]), beams).close();
        bee.step(StepInputs.of(new long[] {20}, new long[1], new long[] {0}, new long[1]), single).close();
        beams.reorder(new long[] {1, 1});  // both beams continue from the one that took token 20
        try (CpmBeeOutput b = bee.step(StepInputs.of(new long[] {30, 30}, new long[2], new long[] {1, 1}, new long[2]), beams);
            CpmBeeOutput s = bee.step(StepInputs.of(new long[] {30}, new long[1], new long[] {1}, new long[1]), single)) {
          double[] beamLogits = Torch.toDoubles(b.logits()), singleLogits = Torch.toDoubles(s.logits());
          int v = singleLogits.length;
          double worst = 0;
          for (int row = 0; row < 2; row++) {
            for (int i = 0; i < v; i++) worst = Math.max(worst, Math.abs(beamLogits[row * v + i] - singleLogits[i]));
          }
          assertTrue(worst <= 1e-5, "reordered beams differ from the single history by " + worst);
        }
      }
    }
  }

  private static CpmBeeInputs prompt(int rows, long[] ids) {
    int n = ids.length;
    long[] all = new long[rows * n], positions = new long[rows * n], ones = new long[rows * n];
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < n; i++) {
        all[r * n + i] = ids[i];
        positions[r * n + i] = i;
        ones[r * n + i] = 1;
      }
    }
    return new CpmBeeInputs(rows, n, all, new long[rows * n], positions, ones, new long[rows * n], ones,
        new long[rows * n], new long[rows * n], new long[rows], 1, null, null, null, null);
  }
}
