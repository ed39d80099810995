package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.CancelledException;
import ai.viscpm.InvalidInputException;
import java.nio.file.Path;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * The JVM chat turn beyond the golden case: the beam search's length bound and forced EOS on a
 * scripted stepper, cancellation, prompt limits, and that turns leave no native object behind.
 */
class ChatTurnTest {
  /** A stepper whose logits favour {@code favourite} at every step (EOS from step {@code eosAt}). */
  private static final class Scripted implements BeamSearch.Stepper {
    final int rows, width, favourite, eosAt;
    int steps;

    Scripted(int rows, int width, int favourite, int eosAt) {
      this.rows = rows;
      this.width = width;
      this.favourite = favourite;
      this.eosAt = eosAt;
    }

    @Override
    public int rows() {
      return rows;
    }

    @Override
    public Tensor step(long[] ids, long[] subs, long[] positions) {
      float[] l = new float[rows * width];
      for (int r = 0; r < rows; r++) {
        for (int v = 0; v < width; v++) l[r * width + v] = (float) (-0.01 * v - 0.1 * r);
        l[r * width + (steps >= eosAt ? ChatPrompt.EOS : favourite)] = 5;
      }
      steps++;
      return Torch.floats(l, rows, width);
    }

    @Override
    public void reorder(long[] parents) {}
  }

  private static BeamSearch.Spec spec(int width) {
    return new BeamSearch.Spec(width, new long[0], new long[0], new long[0], ChatPrompt.BOS, ChatPrompt.EOS, 1);
  }

  @Test
  void answersAreAtMostMaxLengthPlusTwoTokens() throws Exception {
    try (PointerScope scope = new PointerScope()) {
      for (int maxLength : new int[] {0, 1, 5}) {
        Scripted never = new Scripted(3, 40, 20, Integer.MAX_VALUE);
        BeamSearch.Result r = BeamSearch.run(never, spec(40), new BeamSearch.Settings(3, maxLength, 0.7, 1.1, 3), null, null);
        assertEquals(maxLength + 2, r.tokenIds().length, "max_length " + maxLength);
        assertEquals(maxLength + 2, r.modelSteps());
        assertTrue(!r.endedWithEos());
      }
      Scripted eos = new Scripted(3, 40, 20, 3);
      BeamSearch.Trace trace = new BeamSearch.Trace();
      BeamSearch.Result r = BeamSearch.run(eos, spec(40), new BeamSearch.Settings(3, 50, 0.7, 1.1, 3), trace, null);
      assertTrue(r.endedWithEos(), java.util.Arrays.toString(r.tokenIds()));
      assertEquals(ChatPrompt.EOS, r.tokenIds()[r.tokenIds().length - 1]);
      assertArrayEquals(java.util.Arrays.copyOf(r.tokenIds(), r.tokenIds().length - 1), r.answerIds());
      assertTrue(r.modelSteps() < 50, "the done test ends the search early: " + r.modelSteps());
      assertEquals(0, trace.steps.get(0).tokenIds()[0] - ChatPrompt.BOS);
      assertArrayEquals(new double[] {0, -1e9, -1e9}, trace.steps.get(0).beamScores());
      // The reference's extra placeholder step after the done test is recorded.
      BeamSearch.Trace.Step last = trace.steps.get(trace.steps.size() - 1);
      assertArrayEquals(new long[3], last.tokenIds());
      boolean[] calls = {false};
      assertThrows(CancelledException.class, () -> BeamSearch.run(new Scripted(3, 40, 20, 100), spec(40),
          BeamSearch.Settings.reference(), null, () -> {
            boolean go = !calls[0];
            calls[0] = true;
            return go;
          }));
    }
  }

  @Test
  void turnsLeakNothingAndPromptLimitsAreRefused() throws Exception {
    Path root = GoldenCase.fixturesOrSkip();
    Path model = root.resolve("models/chat");
    try (JvmChatModel chat = JvmChatModel.load(model.resolve("cpm-bee.json"), model.resolve("beit3.json"),
        model.resolve("viscpm_chat.pt"), root.resolve("vocab/bee.txt"), ScalarType.Float);
        ChatTurn.Session session = chat.newSession(root.resolve("cases/chat_beam_search/image.png"), "")) {
      BeamSearch.Settings settings = new BeamSearch.Settings(3, 4, 0.7, 1.1, 3);
      ChatTurn first = session.ask("图片里有什么？", settings, 3000, null, null);
      assertTrue(first.encodedImage());
      assertEquals("User: 图片里有什么？\nAI: " + first.answer() + "\n", first.contextAfter());
      long before = Pointer.totalCount();
      for (int i = 0; i < 3; i++) {
        ChatTurn t = session.ask("and then?", settings, 3000, null, null);
        assertTrue(!t.encodedImage());
        assertTrue(t.result().tokenIds().length <= settings.maxLength() + 2);
      }
      long after = Pointer.totalCount();
      assertTrue(after <= before, "native objects leaked by 3 turns: " + before + " -> " + after);
      String context = session.context();
      assertThrows(InvalidInputException.class, () -> session.ask("a ".repeat(100), settings, 80, null, null));
      assertEquals(context, session.context(), "a refused turn leaves the history as it was");
      assertThrows(InvalidInputException.class, () -> session.ask("bad <tag", settings, 3000, null, null));
    }
  }
}
