package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The public API loaded by class loaders of its own, as plugin hosts do (Elasticsearch,
 * Spark executors, mod loaders), next to this test's own copy in the application loader: JNI
 * lets only one class loader own a native library, and JavaCPP answers that by loading a
 * renamed copy of each JNI wrapper (libjniviscpm0.so, ...) for every further loader, while
 * libviscpm, LibTorch and OpenCV themselves are mapped once per process and shared. Each
 * loader is driven by reflection, as a host drives a plugin.
 */
class ClassLoaderIT {
  private static final String QUESTION = "What is in the picture?";
  private static final int MAX_TOKENS = 12;
  private static String expected;
  private static Path image;

  @BeforeAll
  static void answerInThisLoader() throws Exception {
    image = Fixtures.resolve("cases/chat_beam_search/image.png");
    try (ChatModel model = loadChat(); ChatSession s = model.newSession(image)) {
      expected = s.ask(QUESTION, GenerationConfig.builder().maxTokens(MAX_TOKENS).build(), null).text();
    }
  }

  private static ChatModel loadChat() throws Exception {
    return ChatModel.load(Fixtures.resolve("models/chat"), Fixtures.resolve("models/chat/viscpm_chat.pt"), null, null,
        Fixtures.resolve("vocab/bee.txt"), ModelOptions.defaults());
  }

  /** The jar (or classes folder) this test's class path holds a resource in. */
  private static URL holderOf(String resource) throws Exception {
    URL url = ClassLoaderIT.class.getClassLoader().getResource(resource);
    if (url == null) throw new IllegalStateException("not on the test class path: " + resource);
    String s = url.toString();
    if (s.startsWith("jar:")) return new URL(s.substring(4, s.indexOf("!/")));
    return new URL(s.substring(0, s.length() - resource.length()));
  }

  /** The API jar and everything it needs at run time; without the pytorch platform jar when asked. */
  private static URL[] apiClassPath(boolean withTorchPlatformJar) throws Exception {
    String platform = Loader.getPlatform();
    List<URL> urls = new ArrayList<>(List.of(holderOf("ai/viscpm/VisCpm.class"),
        holderOf("ai/viscpm/internal/jni/global/viscpm.class"),
        holderOf("org/bytedeco/javacpp/Loader.class"),
        holderOf("org/bytedeco/javacpp/" + platform + "/libjnijavacpp.so"),
        holderOf("org/bytedeco/pytorch/global/torch.class"),
        holderOf("org/bytedeco/openblas/global/openblas.class"),
        holderOf("org/bytedeco/openblas/" + platform + "/libjniopenblas.so"),
        holderOf("org/bytedeco/opencv/global/opencv_core.class"),
        holderOf("org/bytedeco/opencv/" + platform + "/libjniopencv_core.so")));
    if (withTorchPlatformJar) urls.add(holderOf("org/bytedeco/pytorch/" + platform + "/libjnitorch.so"));
    return urls.toArray(new URL[0]);
  }

  /** A loader that sees the JDK and the given jars only, nothing of this test's class path. */
  private static URLClassLoader isolated(URL[] classPath) {
    return new URLClassLoader(classPath, ClassLoader.getPlatformClassLoader());
  }

  /** The public API as seen through one class loader, called by reflection. */
  private static final class ApiIn {
    final ClassLoader loader;

    ApiIn(ClassLoader loader) {
      this.loader = loader;
    }

    Class<?> type(String name) throws ClassNotFoundException {
      return Class.forName(name, true, loader);
    }

    Object call(Object target, Class<?> type, String method, Class<?>[] types, Object... args) throws Exception {
      Method m = type.getMethod(method, types);
      try {
        return m.invoke(target, args);
      } catch (InvocationTargetException e) {
        throw e.getCause() instanceof Exception ex ? ex : new RuntimeException(e.getCause());
      }
    }

    Object loadChat() throws Exception {
      Class<?> options = type("ai.viscpm.ModelOptions");
      return call(null, type("ai.viscpm.chat.ChatModel"), "load",
          new Class<?>[] {Path.class, Path.class, Path.class, Path.class, Path.class, options},
          Fixtures.resolve("models/chat"), Fixtures.resolve("models/chat/viscpm_chat.pt"), null, null,
          Fixtures.resolve("vocab/bee.txt"), call(null, options, "defaults", new Class<?>[0]));
    }

    /** One turn with a streaming listener (a proxy of this loader's TextListener); returns {answer, streamed}. */
    String[] ask(Object model) throws Exception {
      Class<?> configType = type("ai.viscpm.chat.GenerationConfig");
      Object builder = call(null, configType, "builder", new Class<?>[0]);
      builder = call(builder, builder.getClass(), "maxTokens", new Class<?>[] {int.class}, MAX_TOKENS);
      Object config = call(builder, builder.getClass(), "build", new Class<?>[0]);
      Class<?> listenerType = type("ai.viscpm.chat.TextListener");
      StringBuilder streamed = new StringBuilder();
      Object listener = Proxy.newProxyInstance(loader, new Class<?>[] {listenerType}, (proxy, method, args) -> {
        if (!method.getName().equals("onText")) return method.invoke(this, args);
        streamed.append((String) args[0]);
        return true;
      });
      Object session = call(model, model.getClass(), "newSession", new Class<?>[] {Path.class}, image);
      try {
        Object answer = call(session, session.getClass(), "ask",
            new Class<?>[] {String.class, configType, listenerType}, QUESTION, config, listener);
        return new String[] {(String) call(answer, answer.getClass(), "text", new Class<?>[0]), streamed.toString()};
      } finally {
        ((AutoCloseable) session).close();
      }
    }

    int setThreads(int n) throws Exception {
      return (Integer) call(null, type("ai.viscpm.VisCpm"), "setThreads", new Class<?>[] {int.class}, n);
    }

    int threads() throws Exception {
      return (Integer) call(null, type("ai.viscpm.VisCpm"), "threads", new Class<?>[0]);
    }
  }

  @Test
  void twoIsolatedLoadersInOneJvmEachLoadAModelAndAnswerAtTheSameTime() throws Exception {
    try (URLClassLoader a = isolated(apiClassPath(true)); URLClassLoader b = isolated(apiClassPath(true))) {
      ApiIn apiA = new ApiIn(a), apiB = new ApiIn(b);
      assertNotSame(apiA.type("ai.viscpm.chat.ChatModel"), apiB.type("ai.viscpm.chat.ChatModel"));
      assertNotSame(ChatModel.class, apiA.type("ai.viscpm.chat.ChatModel"));
      Object modelA = apiA.loadChat(), modelB = apiB.loadChat();
      ExecutorService pool = Executors.newFixedThreadPool(2);
      try {
        // Both at once, streaming: each loader's callbacks reach its own listeners.
        for (int round = 0; round < 3; round++) {
          Future<String[]> fromA = pool.submit(() -> apiA.ask(modelA));
          Future<String[]> fromB = pool.submit(() -> apiB.ask(modelB));
          for (String[] answer : List.of(fromA.get(), fromB.get())) {
            assertEquals(expected, answer[0]);
            assertEquals(answer[0], answer[1], "the streamed pieces add up to the answer");
          }
        }
      } finally {
        pool.shutdown();
      }
      // One LibTorch per process: its thread count is shared by every loader (and this one).
      if (VisCpm.hardwareThreads() >= 2) {
        try {
          assertEquals(1, apiA.setThreads(1));
          assertEquals(1, apiB.threads());
          assertEquals(1, VisCpm.threads());
        } finally {
          VisCpm.setThreads(0);
        }
      }
      // Closing one loader's model leaves the other's alone.
      ((AutoCloseable) modelA).close();
      assertEquals(expected, apiB.ask(modelB)[0]);
      ((AutoCloseable) modelB).close();
    }
    // This loader's own copy still works after the two were dropped.
    try (ChatModel model = loadChat(); ChatSession s = model.newSession(image)) {
      assertEquals(expected, s.ask(QUESTION, GenerationConfig.builder().maxTokens(MAX_TOKENS).build(), null).text());
    }
  }

  @Test
  void pluginLoadersOverASharedParentShareOneCopyOfTheApi() throws Exception {
    try (URLClassLoader shared = isolated(apiClassPath(true));
        URLClassLoader pluginA = new URLClassLoader(new URL[0], shared);
        URLClassLoader pluginB = new URLClassLoader(new URL[0], shared)) {
      ApiIn apiA = new ApiIn(pluginA), apiB = new ApiIn(pluginB);
      assertSame(apiA.type("ai.viscpm.chat.ChatModel"), apiB.type("ai.viscpm.chat.ChatModel"));
      assertSame(shared, apiA.type("ai.viscpm.chat.ChatModel").getClassLoader());
      Object modelA = apiA.loadChat(), modelB = apiB.loadChat();
      try {
        assertEquals(expected, apiA.ask(modelA)[0]);
        assertEquals(expected, apiB.ask(modelB)[0]);
      } finally {
        ((AutoCloseable) modelA).close();
        ((AutoCloseable) modelB).close();
      }
    }
  }

  @Test
  void aLoaderWithoutThePlatformJarsGetsATypedErrorNamingTheFix() throws Exception {
    try (URLClassLoader missing = isolated(apiClassPath(false))) {
      ApiIn api = new ApiIn(missing);
      Exception e = assertThrows(Exception.class, api::loadChat);
      assertSame(api.type("ai.viscpm.NativeLibraryException"), e.getClass(), e.toString());
      assertTrue(api.type("ai.viscpm.VisCpmException").isInstance(e));
      String platform = Loader.getPlatform();
      assertTrue(e.getMessage().contains("could not be loaded for " + platform), e.getMessage());
      assertTrue(e.getMessage().contains("pytorch") && e.getMessage().contains("classifier " + platform),
          e.getMessage());
      assertTrue(e.getCause() instanceof UnsatisfiedLinkError, String.valueOf(e.getCause()));
      // The entries that declare no checked exception say the same in an UnsatisfiedLinkError.
      InvocationTargetException init = assertThrows(InvocationTargetException.class,
          () -> api.type("ai.viscpm.VisCpm").getMethod("init").invoke(null));
      assertTrue(init.getCause() instanceof UnsatisfiedLinkError, String.valueOf(init.getCause()));
      assertEquals(e.getMessage(), init.getCause().getMessage());
    }
  }
}
