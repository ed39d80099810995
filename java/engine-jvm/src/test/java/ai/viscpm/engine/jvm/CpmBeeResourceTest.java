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
}
