// Concurrency benchmark of viscpm serve: an in-process VisCpmServer over the demo models,
// driven by 1, 4 and 16 concurrent clients (the JDK's HTTP client) sending streamed chat
// completions; reports requests/s, p50/p99 latency, time to first token (first content
// event) and the process RSS before/after a long run. Not a test: numbers, never pass/fail.
//
// Run (after ./viscpm build), from the repository root:
//   java -cp "java/cli/target/viscpm-cli-0.1.0-SNAPSHOT.jar:$(cat java/cli/target/runtime-classpath.txt)" \
//        benchmarks/serve/ServeBench.java ../shared/fixtures [requests-per-level] [slots] [rss-requests]
import ai.viscpm.chat.ChatModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import ai.viscpm.testkit.DemoModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public class ServeBench {
  record Sample(double seconds, double ttft) {}

  static long rssKb() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status")))
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
    return -1;
  }

  public static void main(String[] args) throws Exception {
    Path fixtures = Path.of(args.length > 0 ? args[0] : "../shared/fixtures");
    int perLevel = args.length > 1 ? Integer.parseInt(args[1]) : 64;
    int slots = args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();
    int rssRequests = args.length > 3 ? Integer.parseInt(args[3]) : 2000;
    Path dir = Files.createTempDirectory("viscpm-serve-bench");
    DemoModels.writeChatModel(dir);
    byte[] png = Files.readAllBytes(fixtures.resolve("cases/chat_beam_search/image.png"));
    String body = "{\"model\":\"viscpm-chat\",\"stream\":true,\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":["
        + "{\"type\":\"text\",\"text\":\"What is in the picture?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
        + "\"data:image/png;base64," + Base64.getEncoder().encodeToString(png) + "\"}}]}]}";
    HttpClient http = HttpClient.newBuilder().executor(Executors.newFixedThreadPool(32)).build();
    try (ChatModel chat = ChatModel.load(dir);
        VisCpmServer server = VisCpmServer.start(chat, null, ServerOptions.defaults().withPort(0).withLimits(slots, 64, 20L << 20), null)) {
      URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions");
      java.util.concurrent.Callable<Sample> one = () -> {
        long t0 = System.nanoTime();
        HttpResponse<java.util.stream.Stream<String>> r = http.send(HttpRequest.newBuilder(uri)
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
        double[] first = {Double.NaN};
        r.body().forEach(line -> {
          if (Double.isNaN(first[0]) && line.contains("\"content\":\"") && !line.contains("\"content\":\"\""))
            first[0] = (System.nanoTime() - t0) / 1e9;
        });
        if (r.statusCode() != 200) throw new IllegalStateException("status " + r.statusCode());
        return new Sample((System.nanoTime() - t0) / 1e9, first[0]);
      };
      for (int i = 0; i < 8; i++) one.call();  // warm-up
      System.out.printf("viscpm serve, demo chat model, streamed answers of <= 16 tokens (beam search), %d generation slots, "
          + "%d requests per level, %d CPUs%n", slots, perLevel, Runtime.getRuntime().availableProcessors());
      System.out.println("| clients | requests/s | p50 latency | p99 latency | p50 time to first text |");
      System.out.println("|---|---|---|---|---|");
      for (int clients : new int[] {1, 4, 16}) {
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<Sample>> futures = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < perLevel; i++) futures.add(pool.submit(one));
        List<Double> lat = new ArrayList<>(), ttft = new ArrayList<>();
        for (var f : futures) {
          Sample s = f.get();
          lat.add(s.seconds());
          if (!Double.isNaN(s.ttft())) ttft.add(s.ttft());
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        pool.shutdown();
        Collections.sort(lat);
        Collections.sort(ttft);
        System.out.printf("| %d | %.1f | %.0f ms | %.0f ms | %s |%n", clients, perLevel / wall, 1000 * lat.get(lat.size() / 2),
            1000 * lat.get(Math.min(lat.size() - 1, (int) Math.ceil(lat.size() * 0.99) - 1)),
            ttft.isEmpty() ? "n/a" : String.format("%.0f ms", 1000 * ttft.get(ttft.size() / 2)));
      }
      long before = rssKb();
      ExecutorService pool = Executors.newFixedThreadPool(4);
      List<Future<Sample>> futures = new ArrayList<>();
      for (int i = 0; i < rssRequests; i++) futures.add(pool.submit(one));
      for (var f : futures) f.get();
      pool.shutdown();
      System.out.printf("RSS: %d MiB before, %d MiB after %d more requests (4 clients)%n", before / 1024, rssKb() / 1024, rssRequests);
    }
    System.exit(0);
  }
}
