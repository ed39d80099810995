package ai.viscpm.bench;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * A full chat answer, beam 3, on the fixture chat model ({@code shared/fixtures/models/chat}:
 * CPM-Bee dim 16, 2 layers, the real 86583-token vocabulary; BEiT-3 dim 32) with the golden
 * case {@code chat_beam_search}'s image, first question and max_length 16, through each engine.
 * At this size the step's arithmetic is tiny, so the figure is mostly per-op overhead: op
 * dispatch, JNI crossings, host reads, the vocabulary-wide logits (86583 columns per row).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class ChatFixtureBench {
  @Param({"native", "jvm"})
  public String engine;

  private ChatRunner runner;

  @Setup(Level.Trial)
  public void load() throws Exception {
    Env.init();
    Path f = Env.fixtures();
    Path chat = f.resolve("models/chat");
    runner = ChatRunner.create(engine, chat, chat.resolve("viscpm_chat.pt"), chat.resolve("cpm-bee.json"),
        chat.resolve("beit3.json"), f.resolve("vocab/bee.txt"), f.resolve("cases/chat_beam_search/image.png"),
        "图片里有什么？请详细描述一下。", 16);
    runner.describe("fixture " + engine);
  }

  @Setup(Level.Invocation)
  public void open() throws Exception {
    runner.openSession();
  }

  @TearDown(Level.Invocation)
  public void closeSession() {
    runner.closeSession();
  }

  @TearDown(Level.Trial)
  public void close() throws Exception {
    runner.close();
  }

  @Benchmark
  public int[] answer() throws Exception {
    Env.adoptThreads();
    return runner.ask();
  }
}
