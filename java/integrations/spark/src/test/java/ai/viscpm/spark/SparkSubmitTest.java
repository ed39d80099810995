package ai.viscpm.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's cluster recipe, run for real in local mode: Spark's own SparkSubmit in a fresh
 * JVM whose class path holds Spark only, the VisCPM jars given with --jars (Spark loads them in
 * its class loader), the chat model shipped with --archives, and the ready-made
 * {@link CaptionImages} job over a folder with a corrupt file among the pictures.
 */
class SparkSubmitTest {
  private static final String QUESTION = "What is in the picture?";
  private static final int MAX_TOKENS = 6;

  /** The jar (or classes folder) this JVM's class path holds a resource in. */
  private static Path holderOf(String resource) throws Exception {
    URL url = SparkSubmitTest.class.getClassLoader().getResource(resource);
    if (url == null) throw new IllegalStateException("not on the test class path: " + resource);
    String s = url.toString();
    String location = s.startsWith("jar:") ? s.substring(4, s.indexOf("!/")) : s.substring(0, s.length() - resource.length());
    return Path.of(new URL(location).toURI()).toAbsolutePath().normalize();
  }

  /** A jar as spark-submit wants it: the jar itself, or a classes folder packed into one. */
  private static Path asJar(Path where, Path tmp) throws IOException {
    if (Files.isRegularFile(where)) return where;
    Path jar = tmp.resolve(where.getParent().getParent().getFileName() + "-" + where.getFileName() + ".jar");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> files = Files.walk(where)) {
      for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
        out.putNextEntry(new ZipEntry(where.relativize(f).toString().replace(File.separatorChar, '/')));
        Files.copy(f, out);
        out.closeEntry();
      }
    }
    return jar;
  }

  private static void png(Path file, int seed) throws IOException {
    BufferedImage img = new BufferedImage(30 + seed * 9, 20 + seed * 7, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) img.setRGB(x, y, (x * 40 + seed * 60) % 256 << 16 | (y * 25) % 256 << 8 | seed * 50);
    }
    ImageIO.write(img, "png", file.toFile());
  }

  @Test
  void captionImagesRunsUnderSparkSubmitWithJarsAndAnArchive(@TempDir Path tmp) throws Exception {
    Path fixtures = TestFixtures.dir();
    String platform = Loader.getPlatform();
    Set<Path> viscpmJars = new LinkedHashSet<>();
    for (String resource : new String[] {"ai/viscpm/VisCpm.class", "ai/viscpm/internal/jni/global/viscpm.class",
        "org/bytedeco/javacpp/Loader.class", "org/bytedeco/javacpp/" + platform + "/libjnijavacpp.so",
        "org/bytedeco/pytorch/global/torch.class", "org/bytedeco/pytorch/" + platform + "/libjnitorch.so",
        "org/bytedeco/openblas/global/openblas.class", "org/bytedeco/openblas/" + platform + "/libjniopenblas.so",
        "org/bytedeco/opencv/global/opencv_core.class", "org/bytedeco/opencv/" + platform + "/libjniopencv_core.so"}) {
      viscpmJars.add(holderOf(resource));
    }
    Path moduleClasses = holderOf("ai/viscpm/spark/CaptionImages.class");
    Path testClasses = holderOf("ai/viscpm/spark/SparkSubmitTest.class");
    // The driver's class path: Spark and its dependencies only, nothing of VisCPM.
    List<String> sparkClassPath = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path p = Path.of(entry).toAbsolutePath().normalize();
      if (!viscpmJars.contains(p) && !p.equals(moduleClasses) && !p.equals(testClasses)) sparkClassPath.add(entry);
    }
    for (String entry : sparkClassPath) {
      assertTrue(!entry.contains("/ai/viscpm/") && !entry.contains("/org/bytedeco/"), "VisCPM must come with --jars: " + entry);
    }
    List<String> jars = new ArrayList<>();
    for (Path p : viscpmJars) jars.add(asJar(p, tmp).toString());
    Path appJar = asJar(moduleClasses, tmp);

    Path model = tmp.resolve("viscpm-chat.zip");
    try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(model))) {
      for (String[] entry : new String[][] {{"viscpm_chat.pt", "models/chat/viscpm_chat.pt"},
          {"cpm-bee.json", "models/chat/cpm-bee.json"}, {"beit3.json", "models/chat/beit3.json"},
          {"vocab/bee.txt", "vocab/bee.txt"}}) {
        out.putNextEntry(new ZipEntry(entry[0]));
        Files.copy(fixtures.resolve(entry[1]), out);
        out.closeEntry();
      }
    }
    Path images = Files.createDirectories(tmp.resolve("pictures"));
    for (int i = 1; i <= 3; i++) png(images.resolve("picture" + i + ".png"), i);
    Files.writeString(images.resolve("broken.png"), "not a picture");
    Path output = tmp.resolve("captions");

    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (arg.startsWith("--add-opens") || arg.startsWith("-Djdk.reflect") || arg.startsWith("-Dio.netty")) command.add(arg);
    }
    command.addAll(List.of("-cp", String.join(File.pathSeparator, sparkClassPath), "org.apache.spark.deploy.SparkSubmit",
        "--master", "local[2]", "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1",
        "--conf", "spark.driver.bindAddress=127.0.0.1", "--class", CaptionImages.class.getName(),
        "--jars", String.join(",", jars), "--archives", model + "#viscpm-chat",
        appJar.toString(), "viscpm-chat", images.toString(), output.toString(), QUESTION, String.valueOf(MAX_TOKENS), "2"));
    Path log = tmp.resolve("spark-submit.log");
    Process submit = new ProcessBuilder(command).directory(tmp.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
    boolean finished = submit.waitFor(300, TimeUnit.SECONDS);
    if (!finished) submit.destroyForcibly();
    String tail = String.join("\n", lastLines(log, 40));
    assertTrue(finished, "spark-submit still running after 300 s:\n" + tail);
    assertEquals(0, submit.exitValue(), "spark-submit failed:\n" + tail);

    Map<String, JsonNode> byFile = new HashMap<>();
    ObjectMapper json = new ObjectMapper();
    try (Stream<Path> parts = Files.list(output)) {
      for (Path part : (Iterable<Path>) parts.filter(p -> p.getFileName().toString().endsWith(".json"))::iterator) {
        for (String line : Files.readAllLines(part)) {
          JsonNode row = json.readTree(line);
          byFile.put(Path.of(new java.net.URI(row.path("path").asText())).getFileName().toString(), row);
        }
      }
    }
    assertEquals(Set.of("picture1.png", "picture2.png", "picture3.png", "broken.png"), byFile.keySet());
    VisCpm.setThreads(1);  // as the job's tasks ran (spark.task.cpus = 1)
    CaptionOptions same = CaptionOptions.builder(ModelFiles.of("unused")).question(QUESTION).maxTokens(MAX_TOKENS).build();
    try (ChatModel chat = ChatModel.load(fixtures.resolve("models/chat"), fixtures.resolve("models/chat/viscpm_chat.pt"),
        null, null, fixtures.resolve("vocab/bee.txt"), ModelOptions.defaults())) {
      for (int i = 1; i <= 3; i++) {
        JsonNode row = byFile.get("picture" + i + ".png");
        assertTrue(row.path("viscpm_error").isMissingNode(), row.toString());
        try (ChatSession s = chat.newSession(images.resolve("picture" + i + ".png"))) {
          assertEquals(s.ask(QUESTION, same.generationConfig(), null).text(), row.path("caption").asText(), row.toString());
        }
      }
    }
    JsonNode broken = byFile.get("broken.png");
    assertTrue(broken.path("caption").isMissingNode(), broken.toString());
    assertTrue(broken.path("viscpm_error").asText().startsWith("InvalidInputException: "), broken.toString());
  }

  private static List<String> lastLines(Path file, int n) throws IOException {
    List<String> lines = Files.exists(file) ? Files.readAllLines(file) : List.of();
    return lines.subList(Math.max(0, lines.size() - n), lines.size());
  }
}
