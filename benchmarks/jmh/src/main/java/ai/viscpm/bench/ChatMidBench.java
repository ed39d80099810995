package ai.viscpm.bench;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * CPM-Bee at a mid-size configuration (dim 1024, 12 layers, 16 heads of 64, ff 2560, the real
 * vocabulary; random weights written once by {@link MidChatModel}) inside a chat turn, beam 3.
 * The native engine exposes no CPM-Bee prefill or step on its own (the C API stops at the chat
 * turn), so both engines are measured at the level that exists, the turn, at two max_length
 * values: the decode step (3 rows, with the beam reorder) is (T(8) - T(0)) / (tokens(8) -
 * tokens(0)); the prefill is T(0) less its tokens(0) steps. The answer token counts are printed
 * by the setup ("[chat] ..." lines) and must agree between engines.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class ChatMidBench {
  @Param({"native", "jvm"})
  public String engine;

  @Param({"0", "8"})
  public int maxLength;

  private ChatRunner runner;

  @Setup(Level.Trial)
  public void load() throws Exception {
    Env.init();
    Path f = Env.fixtures();
    Path dir = MidChatModel.ensure(f, Env.models().resolve("chat-mid"));
    runner = ChatRunner.create(engine, dir, dir.resolve("viscpm_chat.safetensors"), dir.resolve("cpm-bee.json"),
        dir.resolve("beit3.json"), dir.resolve("bee.txt"), f.resolve("cases/chat_beam_search/image.png"),
        "图片里有什么？请详细描述一下。", maxLength);
    runner.describe("mid " + engine);
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
