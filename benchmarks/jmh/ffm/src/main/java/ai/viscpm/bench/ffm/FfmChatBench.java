package ai.viscpm.bench.ffm;

import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * A full chat answer (beam 3, max_length 16, the chat_beam_search case's image and first
 * question, the fixture chat model) on the native engine through the two bindings, in the same
 * JVM (a JDK 22+): the public API over JavaCPP ({@code ChatSession.ask}, a text listener
 * registered) against the C API through java.lang.foreign ({@link FfmChat}, an upcall stub as
 * the text callback). A fresh session per invocation, opened in the untimed setup.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class FfmChatBench {
  static final String QUESTION = "图片里有什么？请详细描述一下。";

  @Param({"javacpp", "ffm"})
  public String binding;

  private ChatModel model;
  private ChatSession session;
  private GenerationConfig config;
  private FfmChat ffm;
  private Path image;

  @Setup(Level.Trial)
  public void load() throws Throwable {
    VisCpm.setThreads(Integer.getInteger("viscpm.bench.threads", 1));
    VisCpm.threads();
    Path f = Path.of(System.getProperty("viscpm.fixtures", "../shared/fixtures")).toAbsolutePath().normalize();
    Path chat = f.resolve("models/chat");
    image = f.resolve("cases/chat_beam_search/image.png");
    if (binding.equals("ffm")) {
      ffm = new FfmChat(chat.toString(), chat.resolve("viscpm_chat.pt").toString(),
          chat.resolve("cpm-bee.json").toString(), chat.resolve("beit3.json").toString(),
          f.resolve("vocab/bee.txt").toString(), image.toString(), QUESTION, 16);
      ffm.openSession();
      System.out.println("[ffm chat] ffm: " + ffm.ask() + " tokens, " + ffm.textPieces + " text pieces");
      ffm.closeSession();
    } else {
      model = ChatModel.load(chat, chat.resolve("viscpm_chat.pt"), chat.resolve("cpm-bee.json"),
          chat.resolve("beit3.json"), f.resolve("vocab/bee.txt"), ModelOptions.defaults());
      config = GenerationConfig.builder().beamSize(3).maxLength(16).build();
      try (ChatSession s = model.newSession(image)) {
        System.out.println("[ffm chat] javacpp: " + s.ask(QUESTION, config, t -> true).tokenIds().length + " tokens");
      }
    }
  }

  @Setup(Level.Invocation)
  public void open() throws Throwable {
    if (ffm != null) ffm.openSession();
    else session = model.newSession(image);
  }

  @TearDown(Level.Invocation)
  public void closeSession() throws Throwable {
    if (ffm != null) ffm.closeSession();
    else if (session != null) session.close();
    session = null;
  }

  @TearDown(Level.Trial)
  public void close() {
    if (ffm != null) ffm.close();
    if (model != null) model.close();
  }

  @Benchmark
  public long answer() throws Throwable {
    if (ffm != null) return ffm.ask();
    return session.ask(QUESTION, config, t -> true).tokenIds().length;
  }
}
