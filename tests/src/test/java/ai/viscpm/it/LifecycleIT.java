package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.Checkpoint;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Native handles are released on close: a thousand open/read/close cycles leave RSS flat. */
class LifecycleIT {
  static long rssKb() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
    throw new IllegalStateException("no VmRSS");
  }

  @Test
  void thousandOpenCloseCyclesDoNotLeak() throws Exception {
    Path file = Fixtures.resolve("models/chat/viscpm_chat.pt");
    FloatBuffer buf = ByteBuffer.allocateDirect(64 << 20).order(ByteOrder.nativeOrder()).asFloatBuffer();
    Runnable cycle = () -> {
      try (Checkpoint c = Checkpoint.open(file)) {
        c.readFloat(c.tensors().get(c.tensors().size() - 1).name(), buf);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    };
    for (int i = 0; i < 100; i++) cycle.run();  // warm-up: allocator pools, JIT, page cache
    System.gc();
    long before = rssKb();
    for (int i = 0; i < 1000; i++) cycle.run();
    System.gc();
    long after = rssKb();
    System.out.printf("RSS before %d kB, after 1000 cycles %d kB (%+d kB)%n", before, after, after - before);
    // A leaked checkpoint (index + mapping of a 6 MB file) would add > 1000 x 6 MB.
    assertTrue(after - before < 32 * 1024, "RSS grew by " + (after - before) + " kB over 1000 cycles");
  }

  /** Ten thousand Tokenizer load/encode/close cycles leave RSS flat (issue 11 saw 3.7 kB per cycle). */
  @Test
  void tenThousandTokenizerCyclesDoNotLeak(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    ai.viscpm.testkit.DemoModels.writeChatModel(dir);
    Path vocab = dir.resolve("vocab/bee.txt");
    Runnable cycle = () -> {
      try (ai.viscpm.text.Tokenizer t = ai.viscpm.text.Tokenizer.load(vocab)) {
        t.decode(t.encode("一只橘猫 <<cat>> in the sun"));
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    };
    for (int i = 0; i < 500; i++) cycle.run();
    System.gc();
    long before = rssKb();
    for (int i = 0; i < 10_000; i++) cycle.run();
    System.gc();
    long after = rssKb();
    System.out.printf("Tokenizer load/close x10000: RSS %d kB -> %d kB (%+d kB)%n", before, after, after - before);
    assertTrue(after - before < 16 * 1024, "RSS grew by " + (after - before) + " kB over 10,000 cycles");
  }
}
