package ai.viscpm.elasticsearch;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import ai.viscpm.chat.ChatModel;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.elasticsearch.common.xcontent.XContentHelper;
import org.elasticsearch.xcontent.json.JsonXContent;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The plugin zip on a real Elasticsearch node: the integ-test distribution from Maven Central,
 * the plugin installed with bin/elasticsearch-plugin, the node started as its own process (as
 * nobody when the build runs as root, which Elasticsearch refuses) under the node's own
 * entitlement checks, which only a real node applies; then the same pipeline over REST.
 */
public class RealNodeIT {
  private static final int NOBODY = 65534;
  private static final int MAX_TOKENS = 8;
  private static final Duration START_TIMEOUT = Duration.ofSeconds(180);
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private static Path work;
  private static Process node;
  private static String baseUrl;
  private static long startMillis;

  @BeforeClass
  public static void startNode() throws Exception {
    Path distribution = Path.of(System.getProperty("viscpm.es.home", "target/es-distribution/elasticsearch-8.19.21"));
    Path pluginZip = Path.of(System.getProperty("viscpm.es.plugin.zip", "target/viscpm-elasticsearch-plugin.zip"));
    assertTrue("the unpacked distribution (mvn pre-integration-test): " + distribution, Files.isDirectory(distribution));
    assertTrue("the plugin zip (mvn package): " + pluginZip, Files.isRegularFile(pluginZip));
    boolean root = "0".equals(run(List.of("id", "-u")).trim());
    // Elasticsearch refuses to run as root: the node then runs as nobody, through util-linux's setpriv.
    if (root && Stream.of(System.getenv("PATH").split(":")).noneMatch(d -> Files.isExecutable(Path.of(d, "setpriv")))) {
      throw new AssertionError("the build runs as root, so the node must run as another user: install setpriv "
          + "(util-linux) or run the build as a non-root user");
    }

    // Everything the node reads or writes lives in one temp folder the node's user owns.
    work = Files.createTempDirectory("viscpm-es-node");
    Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));  // the node's user passes through
    Path home = work.resolve("home");
    linkOrCopyTree(distribution, home);
    Path config = work.resolve("config");
    copyTree(distribution.resolve("config"), config);
    // The model folder in the documented layout, inside the config folder (viscpm.chat.model_dir is relative to it).
    Path model = config.resolve("viscpm/chat");
    Files.createDirectories(model.resolve("vocab"));
    for (String file : List.of("cpm-bee.json", "beit3.json", "viscpm_chat.pt")) {
      Files.copy(TestFixtures.modelDir().resolve(file), model.resolve(file));
    }
    Files.copy(TestFixtures.vocabulary(), model.resolve("vocab/bee.txt"));
    int httpPort = freePort(), transportPort = freePort();
    Files.writeString(config.resolve("elasticsearch.yml"), String.join("\n",
        "cluster.name: viscpm-it",
        "node.name: viscpm-it-node",
        "path.data: " + work.resolve("data"),
        "path.logs: " + work.resolve("logs"),
        "network.host: 127.0.0.1",
        "http.port: " + httpPort,
        "transport.port: " + transportPort,
        "discovery.type: single-node",
        "xpack.security.enabled: false",
        "cluster.routing.allocation.disk.threshold_enabled: false",
        "viscpm.chat.model_dir: viscpm/chat",
        "thread_pool.viscpm_caption.size: 2",
        ""));
    Files.writeString(config.resolve("jvm.options.d/heap.options"), "-Xms512m\n-Xmx512m\n");
    for (String dir : List.of("data", "logs", "tmp")) Files.createDirectories(work.resolve(dir));

    installPlugin(home, config, pluginZip);
    installPlugin(home, config, onFailureRecorderZip());

    if (root) run(List.of("chown", "-R", NOBODY + ":" + NOBODY, config.toString(), work.resolve("data").toString(),
        work.resolve("logs").toString(), work.resolve("tmp").toString()));
    List<String> command = new ArrayList<>();
    if (root) command.addAll(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups", "--"));
    command.add(home.resolve("bin/elasticsearch").toString());
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(work.resolve("logs/console.log").toFile());
    environment(pb, config);
    startMillis = System.currentTimeMillis();
    node = pb.start();
    baseUrl = "http://127.0.0.1:" + httpPort;
    awaitGreenOrYellow();
    System.out.printf("RealNodeIT: node up in %.1f s (work folder %s)%n", (System.currentTimeMillis() - startMillis) / 1e3, work);
  }

  @AfterClass
  public static void stopNode() throws Exception {
    if (node != null) {
      List<ProcessHandle> tree = new ArrayList<>(node.descendants().toList());
      node.destroy();  // SIGTERM: the CLI stops the server JVM and exits
      boolean stopped = node.waitFor(60, TimeUnit.SECONDS);
      for (ProcessHandle p : tree) p.destroyForcibly();
      if (!stopped) node.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      System.out.printf("RealNodeIT: node stopped %s after %.1f s in all%n", stopped ? "cleanly" : "FORCIBLY",
          (System.currentTimeMillis() - startMillis) / 1e3);
      node = null;
      assertTrue("the node stops on SIGTERM within 60 s", stopped);
    }
    // -Dviscpm.es.keep=true keeps the node's folder (logs/, config/) for a look after a failure.
    if (work != null && !Boolean.getBoolean("viscpm.es.keep")) deleteTree(work);
  }

  @Test
  public void pipelineOverRestGivesTheJavaApiCaptions() throws Exception {
    Map<String, Object> plugins = json(request("GET", "/_nodes/plugins?filter_path=nodes.*.plugins.name", null, 200));
    assertThat(plugins.toString(), containsString("name=viscpm"));
    request("PUT", "/_ingest/pipeline/caption", """
        {"processors": [{"viscpm_caption": {"field": "image", "target_field": "caption", "max_tokens": %d}}],
         "on_failure": [{"record_failure": {"target_field": "error"}}]}""".formatted(MAX_TOKENS), 200);
    List<byte[]> images = TestFixtures.images();
    StringBuilder bulk = new StringBuilder();
    int documents = 12;
    for (int d = 0; d < documents; d++) {
      bulk.append("{\"index\":{\"_index\":\"photos\",\"_id\":\"d").append(d).append("\"}}\n")
          .append("{\"image\":\"").append(Base64.getEncoder().encodeToString(images.get(d % images.size()))).append("\"}\n");
    }
    bulk.append("{\"index\":{\"_index\":\"photos\",\"_id\":\"corrupt\"}}\n")
        .append("{\"image\":\"").append(Base64.getEncoder().encodeToString(TestFixtures.corruptImage())).append("\"}\n");
    Map<String, Object> response = json(request("POST", "/_bulk?pipeline=caption&refresh=true", bulk.toString(), 200));
    assertEquals("no item failed (the corrupt one goes through on_failure): " + response, false, response.get("errors"));

    try (ChatModel reference = TestFixtures.loadModel()) {
      for (int d = 0; d < documents; d++) {
        Map<String, Object> source = source("d" + d);
        assertNull("document " + d + " failed: " + source.get("error"), source.get("error"));
        byte[] image = images.get(d % images.size());
        assertEquals("document " + d,
            TestFixtures.answer(reference, image, CaptionProcessor.DEFAULT_QUESTION, MAX_TOKENS), source.get("caption"));
      }
    }
    String pool = request("GET", "/_cat/thread_pool/viscpm_caption?h=name,size,rejected,completed", null, 200);
    assertThat("thread_pool.viscpm_caption.size reached the pool, which ran every caption: " + pool,
        pool.trim().split("\\s+")[1], org.hamcrest.Matchers.equalTo("2"));
    assertTrue(pool, Integer.parseInt(pool.trim().split("\\s+")[3]) >= documents + 1);
    Map<String, Object> corrupt = source("corrupt");
    assertThat(String.valueOf(corrupt.get("error")), containsString("field [image] does not hold an image VisCPM can decode"));
    assertNull(corrupt.get("caption"));
  }

  @Test
  public void withoutOnFailureTheItemFailsAndTheNodeKeepsIndexing() throws Exception {
    request("PUT", "/_ingest/pipeline/strict", """
        {"processors": [{"viscpm_caption": {"field": "image", "max_tokens": 4}}]}""", 200);
    String bulk = "{\"index\":{\"_index\":\"strict\",\"_id\":\"bad\"}}\n{\"image\":\"AAAA\"}\n"
        + "{\"index\":{\"_index\":\"strict\",\"_id\":\"good\"}}\n{\"image\":\""
        + Base64.getEncoder().encodeToString(TestFixtures.images().get(0)) + "\"}\n";
    String response = request("POST", "/_bulk?pipeline=strict&refresh=true", bulk, 200);
    assertThat(response, containsString("does not hold an image VisCPM can decode"));
    assertThat(response, containsString("\"status\":400"));
    Map<String, Object> good = source("good", "strict");
    assertFalse(String.valueOf(good.get("caption")).isEmpty());
    request("GET", "/_cluster/health?wait_for_status=yellow&timeout=10s", null, 200);
  }

  private static Map<String, Object> source(String id) throws Exception {
    return source(id, "photos");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> source(String id, String index) throws Exception {
    return (Map<String, Object>) json(request("GET", "/" + index + "/_doc/" + id, null, 200)).get("_source");
  }

  private static Map<String, Object> json(String body) {
    return XContentHelper.convertToMap(JsonXContent.jsonXContent, body, false);
  }

  private static String request(String method, String path, String body, int expectedStatus) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofSeconds(120))
        .header("Content-Type", path.startsWith("/_bulk") ? "application/x-ndjson" : "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
    HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(method + " " + path + ": " + r.body(), expectedStatus, r.statusCode());
    return r.body();
  }

  private static void awaitGreenOrYellow() throws Exception {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!node.isAlive()) throw new AssertionError("the node exited (" + node.exitValue() + "):\n" + consoleTail());
      try {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(baseUrl
            + "/_cluster/health?wait_for_status=yellow&timeout=1s")).timeout(Duration.ofSeconds(5)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) return;
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(500);
    }
    throw new AssertionError("the node did not answer within " + START_TIMEOUT + ":\n" + consoleTail());
  }

  private static String consoleTail() throws IOException {
    List<String> lines = Files.readAllLines(work.resolve("logs/console.log"));
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
  }

  private static void environment(ProcessBuilder pb, Path config) {
    Map<String, String> env = pb.environment();
    env.put("ES_PATH_CONF", config.toString());
    env.put("ES_TMPDIR", work.resolve("tmp").toString());
    // The test's own JDK unless -Dviscpm.es.java.home names another (the integ-test zip bundles none).
    String javaHome = System.getProperty("viscpm.es.java.home", "");
    env.put("ES_JAVA_HOME", javaHome.isEmpty() ? System.getProperty("java.home") : javaHome);
    env.remove("JAVA_HOME");
    env.remove("ES_JAVA_OPTS");
  }

  private static void installPlugin(Path home, Path config, Path zip) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(home.resolve("bin/elasticsearch-plugin").toString(), "install", "--batch",
        zip.toUri().toString());
    environment(pb, config);
    System.out.println("RealNodeIT: elasticsearch-plugin install " + zip.getFileName() + "\n" + run(pb).strip());
  }

  /**
   * A second, test-only plugin with the record_failure processor (the integ-test distribution
   * has no ingest-common module, so no set processor for on_failure).
   */
  private static Path onFailureRecorderZip() throws Exception {
    Path classes = Path.of(OnFailureRecorderPlugin.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Path zip = work.resolve("on-failure-recorder.zip");
    try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(zip))) {
      out.putNextEntry(new ZipEntry("plugin-descriptor.properties"));
      out.write(String.join("\n", "description=record_failure processor (VisCPM tests)", "version=1",
          "name=viscpm-test-on-failure-recorder", "classname=" + OnFailureRecorderPlugin.class.getName(),
          "java.version=17", "elasticsearch.version=8.19.21", "").getBytes(StandardCharsets.UTF_8));
      out.putNextEntry(new ZipEntry("on-failure-recorder.jar"));
      JarOutputStream jar = new JarOutputStream(new NonClosing(out));
      Path pkg = classes.resolve(OnFailureRecorderPlugin.class.getPackageName().replace('.', '/'));
      try (Stream<Path> files = Files.list(pkg)) {
        for (Path f : files.filter(f -> f.getFileName().toString().startsWith("OnFailureRecorderPlugin")).toList()) {
          jar.putNextEntry(new ZipEntry(classes.relativize(f).toString()));
          jar.write(Files.readAllBytes(f));
        }
      }
      jar.close();
    }
    return zip;
  }

  private static final class NonClosing extends java.io.FilterOutputStream {
    NonClosing(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    @Override
    public void close() throws IOException {
      flush();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static String run(List<String> command) throws Exception {
    return run(new ProcessBuilder(command));
  }

  private static String run(ProcessBuilder pb) throws Exception {
    Process p = pb.redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(pb.command() + " did not finish:\n" + output);
    }
    if (p.exitValue() != 0) throw new AssertionError(pb.command() + " exited " + p.exitValue() + ":\n" + output);
    return output;
  }

  /** Hard links (the distribution is read-only to the node), or copies across file systems. */
  private static void linkOrCopyTree(Path from, Path to) throws IOException {
    Files.walkFileTree(from, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
        Files.createDirectories(to.resolve(from.relativize(dir).toString()));
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Path target = to.resolve(from.relativize(file).toString());
        try {
          Files.createLink(target, file);
        } catch (IOException | UnsupportedOperationException e) {
          Files.copy(file, target, StandardCopyOption.COPY_ATTRIBUTES);
        }
        return FileVisitResult.CONTINUE;
      }
    });
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : all.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) Files.createDirectories(target);
        else Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES);
      }
    }
  }

  private static void deleteTree(Path root) throws IOException {
    try (Stream<Path> all = Files.walk(root)) {
      for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }
}
