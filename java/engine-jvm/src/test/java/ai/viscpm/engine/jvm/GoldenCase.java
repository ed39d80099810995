package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.VisCpmException;
import ai.viscpm.engine.jvm.parity.ParityReport;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Assumptions;

/**
 * One golden case of the shared fixtures for a JUnit test (../shared/fixtures,
 * -Dviscpm.fixtures or VISCPM_FIXTURES; the test is skipped, with the reason, when they are
 * missing). Reading and comparing are {@link ai.viscpm.engine.jvm.parity.GoldenCase}'s, the
 * golden-case runner's rules (native/testkit/parity); this adds the skip and
 * {@link #assertPassed()}.
 */
final class GoldenCase implements AutoCloseable {
  final Path root;
  final JsonNode manifest;
  private final ai.viscpm.engine.jvm.parity.GoldenCase c;

  private GoldenCase(Path root, ai.viscpm.engine.jvm.parity.GoldenCase c) {
    this.root = root;
    this.manifest = c.manifest();
    this.c = c;
  }

  /** The fixtures folder; skips the calling test (with the reason) when it is missing. */
  static Path fixturesOrSkip() {
    String configured = System.getProperty("viscpm.fixtures");
    if (configured == null || configured.isEmpty()) configured = System.getenv("VISCPM_FIXTURES");
    Path dir = Path.of(configured == null || configured.isEmpty() ? "../../../shared/fixtures" : configured)
        .toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.isRegularFile(dir.resolve("manifest.json")),
        "golden fixtures not found at " + dir + " (expected manifest.json; place the shared folder beside the "
            + "checkout or set -Dviscpm.fixtures=DIR): skipping the JVM engine's golden cases");
    return dir;
  }

  /** The case named {@code name}; skips the test when the fixtures are missing. */
  static GoldenCase named(String name) throws IOException, VisCpmException {
    Path root = fixturesOrSkip();
    return new GoldenCase(root, ai.viscpm.engine.jvm.parity.GoldenCase.named(root, name));
  }

  String name() {
    return c.name();
  }

  JsonNode params() {
    return c.params();
  }

  Path checkpoint() {
    return c.checkpoint();
  }

  Path cpmBeeConfig() {
    return c.cpmBeeConfig();
  }

  Path modelConfig(String key, String fallback) {
    return c.modelConfig(key, fallback);
  }

  Path paramPath(String paramKey, String modelKey) {
    return c.paramPath(paramKey, modelKey);
  }

  long[] inputShape(String name) throws VisCpmException {
    return c.inputShape(name);
  }

  boolean hasInput(String name) {
    return c.hasInput(name);
  }

  float[] inputFloats(String name) throws VisCpmException {
    return c.inputFloats(name);
  }

  long[] inputLongs(String name) throws VisCpmException {
    return c.inputLongs(name);
  }

  /** An input as a new float32 tensor (the caller's scope owns it). */
  Tensor inputTensor(String name) throws VisCpmException {
    return c.inputTensor(name);
  }

  long[] expectedLongs(String name) throws VisCpmException {
    return c.expectedLongs(name);
  }

  boolean hasExpected(String name) {
    return c.hasExpected(name);
  }

  JsonNode expectedJson() throws IOException, VisCpmException {
    return c.expectedJson();
  }

  JsonNode inputsJson() throws IOException, VisCpmException {
    return c.inputsJson();
  }

  /** Compares {@code actual} with the expected tensor {@code name} under the case's tolerance. */
  void compare(String name, Tensor actual) throws VisCpmException {
    c.compare(name, actual);
  }

  /** Compares JSON as native/testkit/parity does (structure exact, floats under json_floats). */
  void compareJson(String label, JsonNode actual, JsonNode expected) throws VisCpmException {
    c.compareJson(label, actual, expected);
  }

  /** Prints every check and fails the test if any failed. */
  void assertPassed() {
    System.out.println("JVM engine, golden case " + name() + ":");
    List<String> failures = new ArrayList<>();
    for (ParityReport.Check check : c.checks()) {
      System.out.printf("  %-32s %s  max |diff| %.3g%s%s%n", check.name(), check.pass() ? "PASS" : "FAIL", check.worst(),
          check.where().isEmpty() ? "" : " at " + check.where(), check.detail().isEmpty() ? "" : "; " + check.detail());
      if (!check.pass()) failures.add(check.name() + ": " + check.detail() + " (at " + check.where() + ")");
    }
    assertTrue(failures.isEmpty(), name() + " through the JVM engine: " + String.join("; ", failures));
  }

  @Override
  public void close() {
    c.close();
  }
}
