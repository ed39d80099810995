package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.InvalidInputException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import ai.viscpm.testkit.DemoModels;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The asynchronous forms (askAsync, generateAsync): same results, cancellation, errors. */
class AsyncIT {
  private static ChatModel chat;
  private static PaintModel paint;
  private static Path image;
  private static ExecutorService executor;

  @BeforeAll
  static void load() throws Exception {
    Path chatDir = Files.createTempDirectory("viscpm-async-chat");
    DemoModels.writeChatModel(chatDir);
    chat = ChatModel.load(chatDir);
    Path paintDir = Files.createTempDirectory("viscpm-async-paint");
    DemoModels.writePaintModel(paintDir);
    paint = PaintModel.load(paintDir);
    image = Fixtures.resolve("cases/chat_beam_search/image.png");
    executor = Executors.newFixedThreadPool(2);
  }

  @AfterAll
  static void close() {
    executor.shutdownNow();
    chat.close();
    paint.close();
  }

  @Test
  void askAsyncGivesTheAnswerAskGives() throws Exception {
    GenerationConfig config = GenerationConfig.builder().maxTokens(12).build();
    String expected;
    try (ChatSession s = chat.newSession(image)) {
      expected = s.ask("what is this?", config, null).text();
    }
    try (ChatSession s = chat.newSession(image)) {
      ChatAnswer answer = s.askAsync("what is this?", config, null, executor).get(60, TimeUnit.SECONDS);
      assertEquals(expected, answer.text());
    }
  }

  @Test
  void cancellingATurnStopsItAndKeepsTheSessionUsable() throws Exception {
    // One thread per session: a cancelled turn may still be finishing its step when its future
    // completes, and a session runs one turn at a time.
    ExecutorService sessionThread = Executors.newSingleThreadExecutor();
    GenerationConfig shortTurn = GenerationConfig.builder().maxTokens(8).build();
    String expectedHistory;
    try (ChatSession fresh = chat.newSession(image)) {
      fresh.ask("what is this?", shortTurn, null);
      expectedHistory = fresh.history();
    }
    try (ChatSession s = chat.newSession(image)) {
      CountDownLatch started = new CountDownLatch(1);
      CompletableFuture<ChatAnswer>[] future = new CompletableFuture[1];
      // Greedy: text arrives as it is decoded; the listener holds the turn until the future is cancelled.
      GenerationConfig config = GenerationConfig.builder().greedy().maxLength(400).build();
      future[0] = s.askAsync("describe it at length", config, text -> {
        started.countDown();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (future[0] == null || !future[0].isCancelled()) {
          if (System.nanoTime() > until) return true;
          Thread.onSpinWait();
        }
        return true;  // the future's own cancellation must stop the turn
      }, sessionThread);
      assertTrue(started.await(60, TimeUnit.SECONDS));
      assertTrue(future[0].cancel(true));
      assertThrows(CancellationException.class, () -> future[0].get(60, TimeUnit.SECONDS));
      // The turn really stopped: the next one runs on the same session, history unchanged.
      ChatAnswer next = s.askAsync("what is this?", shortTurn, null, sessionThread).get(60, TimeUnit.SECONDS);
      assertTrue(next.tokenIds().length > 0);
      assertEquals(expectedHistory, s.history(), "only the completed turn joined the history");
    } finally {
      sessionThread.shutdownNow();
    }
  }

  @Test
  void badInputFailsTheFutureWithTheTypedException() throws Exception {
    try (ChatSession s = chat.newSession(image)) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> s.askAsync("x".repeat(200_000),
          GenerationConfig.defaults(), null, executor).get(60, TimeUnit.SECONDS));
      assertInstanceOf(InvalidInputException.class, e.getCause());
    }
  }

  @Test
  void generateAsyncPaintsTheSameBytesAndCancels() throws Exception {
    PaintRequest request = PaintRequest.builder("a lighthouse").steps(3).seed(7).build();
    PaintResult direct = paint.generate(request);
    PaintResult async = paint.generateAsync(request, null, executor).get(120, TimeUnit.SECONDS);
    assertArrayEquals(bytes(direct.rgb(0)), bytes(async.rgb(0)));

    AtomicInteger steps = new AtomicInteger();
    CountDownLatch firstStep = new CountDownLatch(1);
    CountDownLatch cancelled = new CountDownLatch(1);
    CompletableFuture<PaintResult> running = paint.generateAsync(PaintRequest.builder("a lighthouse").steps(50).seed(7)
        .build(), (step, total) -> {
          steps.incrementAndGet();
          firstStep.countDown();
          try {
            cancelled.await(30, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return true;
        }, executor);
    assertTrue(firstStep.await(120, TimeUnit.SECONDS));
    assertTrue(running.cancel(true));
    cancelled.countDown();
    assertThrows(CancellationException.class, running::join);
    // The loop stopped at the next step: the executor is free again for a new painting.
    PaintResult again = paint.generateAsync(request, null, executor).get(120, TimeUnit.SECONDS);
    assertArrayEquals(bytes(direct.rgb(0)), bytes(again.rgb(0)));
    assertTrue(steps.get() < 50, "cancelled after " + steps.get() + " steps");
  }

  @Test
  void aRejectedSubmissionFailsTheFuture() throws Exception {
    ExecutorService closed = Executors.newSingleThreadExecutor();
    closed.shutdown();
    try (ChatSession s = chat.newSession(image)) {
      CompletableFuture<ChatAnswer> f = s.askAsync("hi", closed);
      ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
      assertInstanceOf(java.util.concurrent.RejectedExecutionException.class, e.getCause());
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
