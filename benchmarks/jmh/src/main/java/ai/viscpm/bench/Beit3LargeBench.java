package ai.viscpm.bench;

import ai.viscpm.ModelOptions;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.engine.jvm.JvmChatModel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.openjdk.jmh.annotations.*;

/**
 * A BEiT-3 large encode (the released vision configuration, random weights written once by
 * {@link Beit3LargeModel}) with the 64 queries and the mapping MLP, at the level both engines
 * expose: opening a chat session on the chat_beam_search case's PNG (decode, resize,
 * normalisation, BEiT-3, mapping), {@code ChatModel.newSession(Path)} against the JVM engine's
 * {@code JvmChatModel.newSession(Path, "")}. Each session is closed at once (untimed work is
 * only the close).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class Beit3LargeBench {
  @Param({"native", "jvm"})
  public String engine;

  private ChatModel nativeModel;
  private JvmChatModel jvmModel;
  private Path image;

  @Setup(Level.Trial)
  public void load() throws Exception {
    Env.init();
    Path f = Env.fixtures();
    Path dir = Beit3LargeModel.ensure(f, Env.models().resolve("chat-beit3-large"));
    image = f.resolve("cases/chat_beam_search/image.png");
    Path ckpt = dir.resolve("viscpm_chat.safetensors");
    if (engine.equals("native")) {
      nativeModel = ChatModel.load(dir, ckpt, dir.resolve("cpm-bee.json"), dir.resolve("beit3.json"),
          dir.resolve("bee.txt"), ModelOptions.defaults());
    } else {
      jvmModel = JvmChatModel.load(dir.resolve("cpm-bee.json"), dir.resolve("beit3.json"), ckpt, dir.resolve("bee.txt"),
          ScalarType.Float);
    }
  }

  @TearDown(Level.Trial)
  public void close() {
    if (nativeModel != null) nativeModel.close();
    if (jvmModel != null) jvmModel.close();
  }

  @Benchmark
  public int openSession() throws Exception {
    Env.adoptThreads();
    if (nativeModel != null) {
      try (var s = nativeModel.newSession(image)) {
        return 1;
      }
    }
    try (var s = jvmModel.newSession(image, "")) {
      return 1;
    }
  }
}
