// Long-run fuzzing of viscpm serve (issue 11): an in-process VisCpmServer over the demo chat and
// paint models, driven by several raw-socket clients sending seeded HttpFuzz cases (mostly
// malformed: truncated or bit-flipped JSON, wrong types, absurd parameters, deep nesting, bad
// images, wrong routes, bodies over the limit, broken chunked encoding and HTTP, clients that
// hang up; some valid and cheap: health checks, short answers, one-step paintings). Every answer
// is checked (HttpFuzz.check); every `sample` requests the load pauses, the JVM's heap is
// measured after GC, with the process RSS (/proc/self/status VmRSS), threads and open file
// descriptors, and the JDK's live HttpConnection objects (jcmd GC.class_histogram). Not a test:
// it prints numbers and the wrong answers it saw. Native image decoders log to stderr (libpng's
// "IDAT: incorrect data check" for the corrupt PNGs); the results keep stdout only.
//
// Run (after ./viscpm build), from the repository root:
//   java -Xmx1g -cp "java/cli/target/viscpm-cli-0.1.0-SNAPSHOT.jar:$(cat java/cli/target/runtime-classpath.txt)" \
//        benchmarks/serve/ServeFuzz.java [requests=100000] [seed=1] [clients=8] [sample=10000]
import ai.viscpm.chat.ChatModel;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import ai.viscpm.testkit.DemoModels;
import ai.viscpm.testkit.HttpFuzz;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

public class ServeFuzz {
  static long statusKb(String field) throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status")))
      if (line.startsWith(field + ":")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
    return -1;
  }

  static long heapAfterGc() throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(100);
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  /** Live instances of a class (jcmd GC.class_histogram), -1 without jcmd. */
  static long liveInstances(String className) {
    try {
      Process p = new ProcessBuilder("jcmd", String.valueOf(ProcessHandle.current().pid()), "GC.class_histogram")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes());
      p.waitFor();
      for (String line : out.split("\n")) {
        String[] f = line.trim().split("\\s+");
        if (f.length >= 4 && f[3].equals(className)) return Long.parseLong(f[1]);
      }
      return 0;
    } catch (Exception e) {
      return -1;
    }
  }

  static long openFds() {
    String[] fds = new java.io.File("/proc/self/fd").list();
    return fds == null ? -1 : fds.length;
  }

  public static void main(String[] args) throws Exception {
    int requests = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
    long seed = args.length > 1 ? Long.parseLong(args[1]) : 1;
    int clients = args.length > 2 ? Integer.parseInt(args[2]) : 8;
    int sample = args.length > 3 ? Integer.parseInt(args[3]) : 10_000;
    long limit = 1 << 20;
    Path dir = Files.createTempDirectory("viscpm-serve-fuzz");
    DemoModels.writeChatModel(dir.resolve("chat"));
    DemoModels.writePaintModel(dir.resolve("paint"));
    ServerOptions options = ServerOptions.defaults().withPort(0).withLimits(2, 16, limit)
        .withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(1));
    Map<Integer, Long> statuses = new ConcurrentHashMap<>();
    Map<String, Long> kinds = new ConcurrentHashMap<>();
    Map<String, Long> expects = new ConcurrentHashMap<>();
    List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicLong failureCount = new AtomicLong(), clientErrors = new AtomicLong(), reconnects = new AtomicLong();
    try (ChatModel chat = ChatModel.load(dir.resolve("chat")); PaintModel paint = PaintModel.load(dir.resolve("paint"));
        VisCpmServer server = VisCpmServer.start(chat, paint, options, null)) {
      System.out.printf("viscpm serve fuzz: %d requests, seed %d, %d clients, demo chat + paint models, 2 generation slots, "
          + "queue 16, body limit %d bytes, request/write timeouts 2 s / 5 s, keep-alive 1 s; %d CPUs, max heap %d MiB%n",
          requests, seed, clients, limit, Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
      System.out.println("| requests | heap after GC | RSS | JVM threads | server threads | open fds | JDK HttpConnection objects "
          + "| wrong answers | requests/s |");
      System.out.println("|---|---|---|---|---|---|---|---|---|");
      List<HttpFuzz> gens = new ArrayList<>();
      List<HttpFuzz.Client> conns = new ArrayList<>();
      for (int w = 0; w < clients; w++) {
        gens.add(new HttpFuzz(seed * 1000 + w, limit, paint.sizeMultiple()));
        conns.add(new HttpFuzz.Client("127.0.0.1", server.port(), 30_000));
      }
      ExecutorService pool = Executors.newFixedThreadPool(clients);
      long t0 = System.nanoTime();
      int done = 0;
      printRow(0, 0, server, failureCount.get());
      while (done < requests) {
        int round = Math.min(sample, requests - done);
        long roundStart = System.nanoTime();
        List<Future<?>> futures = new ArrayList<>();
        for (int w = 0; w < clients; w++) {
          int share = round / clients + (w < round % clients ? 1 : 0);
          HttpFuzz gen = gens.get(w);
          HttpFuzz.Client client = conns.get(w);
          futures.add(pool.submit(() -> {
            for (int i = 0; i < share; i++) {
              HttpFuzz.Case c = gen.next();
              kinds.merge(c.kind(), 1L, Long::sum);
              expects.merge(c.expect().name(), 1L, Long::sum);
              try {
                HttpFuzz.Result r = client.run(c);
                statuses.merge(r.status(), 1L, Long::sum);
                if (r.failure() != null) {
                  failureCount.incrementAndGet();
                  if (failures.size() < 30) failures.add(c.kind() + ": " + r.failure());
                }
              } catch (Exception e) {
                clientErrors.incrementAndGet();
                statuses.merge(-9, 1L, Long::sum);
                failureCount.incrementAndGet();
                if (failures.size() < 30) failures.add(c.kind() + ": client " + e);
              }
            }
            return null;
          }));
        }
        for (var f : futures) f.get();
        done += round;
        printRow(done, round / ((System.nanoTime() - roundStart) / 1e9), server, failureCount.get());
      }
      pool.shutdown();
      List<String> reconnectNotes = new ArrayList<>();
      for (HttpFuzz.Client c : conns) {
        reconnects.addAndGet(c.reconnects());
        reconnectNotes.addAll(c.reconnectNotes());
        c.close();
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      // Still serving: health and a real chat completion.
      HttpClient http = HttpClient.newHttpClient();
      var health = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/health")).build(),
          HttpResponse.BodyHandlers.ofString());
      var answer = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
          .POST(HttpRequest.BodyPublishers.ofString(gens.get(0).chatBody(false).toString())).build(),
          HttpResponse.BodyHandlers.ofString());
      System.out.printf("%n%d requests in %.0f s (%.0f requests/s); afterwards /health %d, a chat completion %d%n", done, seconds,
          done / seconds, health.statusCode(), answer.statusCode());
      System.out.println("statuses (-1: closed by the server without an answer, as malformed HTTP may be; -2: the client hung up "
          + "on purpose; -9: client-side exception): " + new TreeMap<>(statuses));
      System.out.println("expectations: " + new TreeMap<>(expects));
      System.out.println("cases: " + new TreeMap<>(kinds));
      System.out.println("kept connections found closed and re-opened: " + reconnects.get()
          + (reconnectNotes.isEmpty() ? "" : " " + reconnectNotes));
      System.out.println("wrong answers: " + failureCount.get() + (failures.isEmpty() ? "" : ", e.g.:"));
      for (String f : failures) System.out.println("  " + f);
    }
    System.exit(0);
  }

  static void printRow(int done, double rate, VisCpmServer server, long failures) throws Exception {
    long heap = heapAfterGc();
    System.out.printf("| %d | %.1f MiB | %d MiB | %d | %d | %d | %d | %d | %s |%n", done, heap / 1048576.0,
        statusKb("VmRSS") / 1024, Thread.activeCount(), server.threadCount(), openFds(),
        liveInstances("sun.net.httpserver.HttpConnection"), failures, done == 0 ? "-" : String.format("%.0f", rate));
  }
}
