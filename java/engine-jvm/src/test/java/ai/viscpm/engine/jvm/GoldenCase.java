package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.Checkpoint;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Assumptions;

/**
 * One golden case of the shared fixtures (../shared/fixtures, -Dviscpm.fixtures or
 * VISCPM_FIXTURES): its manifest entry, its tensors (read through the C API, as float32: ids,
 * masks and column indices are small integers, exact in float32) and the comparison rules of
 * the fixtures README, as native/testkit/parity applies them: per-name tolerance, else "*",
 * else exact; equal shapes (a 1-element tensor matches a scalar); NaN only where expected.
 */
final class GoldenCase implements AutoCloseable {
  final Path root;
  final JsonNode manifest;
  final JsonNode entry;
  private final Checkpoint inputs, expected;
  private final Map<String, TensorInfo> inputInfo = new HashMap<>(), expectedInfo = new HashMap<>();
  private final List<String> report = new ArrayList<>();
  private final List<String> failures = new ArrayList<>();

  private GoldenCase(Path root, JsonNode manifest, JsonNode entry) throws VisCpmException {
    this.root = root;
    this.manifest = manifest;
    this.entry = entry;
    inputs = open(entry.path("inputs").path("tensors"), inputInfo);
    try {
      expected = open(entry.path("expected").path("tensors"), expectedInfo);
    } catch (VisCpmException | RuntimeException e) {
      if (inputs != null) inputs.close();
      throw e;
    }
  }

  private Checkpoint open(JsonNode file, Map<String, TensorInfo> info) throws VisCpmException {
    if (file.isMissingNode()) return null;
    Checkpoint c = Checkpoint.open(root.resolve(file.asText()));
    for (TensorInfo t : c.tensors()) info.put(t.name(), t);
    return c;
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
    JsonNode manifest = new ObjectMapper().readTree(root.resolve("manifest.json").toFile());
    for (JsonNode c : manifest.path("cases")) {
      if (name.equals(c.path("name").asText())) return new GoldenCase(root, manifest, c);
    }
    throw new AssertionError("the fixtures manifest has no case \"" + name + "\"");
  }

  String name() {
    return entry.path("name").asText();
  }

  JsonNode params() {
    return entry.path("params");
  }

  Path checkpoint() {
    return root.resolve(entry.path("checkpoint").asText());
  }

  /** The cpm-bee.json of the case's model. */
  Path cpmBeeConfig() {
    return modelConfig("cpm_bee_config", "cpm-bee.json");
  }

  /**
   * A config file of the case's model: {@code key} of the manifest's "models" entry whose dir
   * is the case's model, else {@code <model dir>/fallback}.
   */
  Path modelConfig(String key, String fallback) {
    String model = entry.path("model").asText();
    for (JsonNode m : manifest.path("models")) {
      if (model.equals(m.path("dir").asText()) && m.has(key)) return root.resolve(m.path(key).asText());
    }
    return root.resolve(model).resolve(fallback);
  }

  /**
   * A file named by {@code params[paramKey]} (relative to the fixtures folder), else by the
   * manifest's paint/chat model entry {@code modelKey}.
   */
  Path paramPath(String paramKey, String modelKey) {
    JsonNode p = params().path(paramKey);
    if (p.isTextual()) return root.resolve(p.asText());
    return modelConfig(modelKey, modelKey);
  }

  long[] inputShape(String name) {
    return info(inputInfo, name, "inputs").shape();
  }

  boolean hasInput(String name) {
    return inputInfo.containsKey(name);
  }

  float[] inputFloats(String name) throws VisCpmException {
    return read(inputs, info(inputInfo, name, "inputs"));
  }

  long[] inputLongs(String name) throws VisCpmException {
    float[] f = inputFloats(name);
    long[] out = new long[f.length];
    for (int i = 0; i < f.length; i++) {
      out[i] = (long) f[i];
      if (out[i] != f[i]) throw new AssertionError(name + "[" + i + "] = " + f[i] + " is not an integer");
    }
    return out;
  }

  /** An input as a new float32 tensor (the caller's scope owns it). */
  Tensor inputTensor(String name) throws VisCpmException {
    return Torch.floats(inputFloats(name), inputShape(name));
  }

  long[] expectedLongs(String name) throws VisCpmException {
    float[] f = read(expected, info(expectedInfo, name, "expected values"));
    long[] out = new long[f.length];
    for (int i = 0; i < f.length; i++) out[i] = (long) f[i];
    return out;
  }

  private static TensorInfo info(Map<String, TensorInfo> infos, String name, String what) {
    TensorInfo t = infos.get(name);
    if (t == null) throw new AssertionError("the case's " + what + " have no tensor \"" + name + "\"");
    return t;
  }

  private static float[] read(Checkpoint file, TensorInfo info) throws VisCpmException {
    int n = Math.toIntExact(info.numel());
    FloatBuffer buffer = ByteBuffer.allocateDirect(Math.max(4, n * 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
    file.readFloat(info.name(), buffer);
    float[] out = new float[n];
    buffer.get(out, 0, n);
    return out;
  }

  private static double[] toDoubles(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }

  private Path expectedFile() {
    return root.resolve(entry.path("expected").path("tensors").asText());
  }

  /**
   * A float64 tensor of a safetensors file, read exactly (the C API reads as float32, which
   * would round the Euler classes' float64 timesteps before the comparison).
   */
  static double[] readFloat64(Path file, String name) {
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(len, 0);
      long headerSize = len.getLong(0);
      ByteBuffer header = ByteBuffer.allocate(Math.toIntExact(headerSize));
      ch.read(header, 8);
      JsonNode entryNode = new ObjectMapper().readTree(new String(header.array(), java.nio.charset.StandardCharsets.UTF_8))
          .path(name);
      if (!entryNode.path("dtype").asText().equals("F64")) throw new AssertionError(name + " is not F64 in " + file);
      long begin = entryNode.path("data_offsets").get(0).asLong(), end = entryNode.path("data_offsets").get(1).asLong();
      ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(end - begin)).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(data, 8 + headerSize + begin);
      data.flip();
      double[] out = new double[data.remaining() / 8];
      data.asDoubleBuffer().get(out);
      return out;
    } catch (IOException e) {
      throw new AssertionError("cannot read " + name + " from " + file + ": " + e.getMessage(), e);
    }
  }

  /** Whether the case's expected tensors include {@code name}. */
  boolean hasExpected(String name) {
    return expectedInfo.containsKey(name);
  }

  /** The case's expected.json. */
  JsonNode expectedJson() throws IOException {
    return new ObjectMapper().readTree(root.resolve(entry.path("expected").path("json").asText()).toFile());
  }

  /** The case's inputs.json. */
  JsonNode inputsJson() throws IOException {
    return new ObjectMapper().readTree(root.resolve(entry.path("inputs").path("json").asText()).toFile());
  }

  /**
   * Compares JSON as native/testkit/parity does: strings, integers, booleans, nulls and the
   * structure exactly (same keys in the same order, same list lengths); floating-point numbers
   * (a float on either side) within {@code tolerance.json_floats} when given, else exactly.
   */
  void compareJson(String label, JsonNode actual, JsonNode expected) {
    JsonNode floats = entry.path("tolerance").get("json_floats");
    Tolerance tol = floats == null ? new Tolerance(Tolerance.Kind.EXACT, 0, 0, 0) : Tolerance.parse(floats);
    JsonComparer cmp = new JsonComparer(tol);
    cmp.run(actual, expected, "$");
    if (cmp.mismatches == 0) {
      report.add(String.format("  %-32s PASS  max |diff| %.3g at %s (floats %s)", label, cmp.worst, cmp.worstPath, tol));
    } else {
      fail(label, cmp.mismatches + " mismatch(es), first at " + cmp.firstMismatch);
    }
  }

  private static final class JsonComparer {
    final Tolerance tol;
    double worst;
    String worstPath = "$", firstMismatch;
    int mismatches;

    JsonComparer(Tolerance tol) {
      this.tol = tol;
    }

    void mismatch(String path, String what) {
      if (mismatches++ == 0) firstMismatch = path + ": " + what;
    }

    void run(JsonNode a, JsonNode e, String path) {
      if (e.isFloatingPointNumber() || (a.isFloatingPointNumber() && e.isNumber())) {
        if (!a.isNumber()) {
          mismatch(path, "expected number " + e + ", got " + a);
          return;
        }
        double av = a.asDouble(), ev = e.asDouble();
        double d = Double.isNaN(av) && Double.isNaN(ev) ? 0.0 : Math.abs(av - ev);
        if (Double.isNaN(d)) d = Double.POSITIVE_INFINITY;
        if (d > worst) {
          worst = d;
          worstPath = path;
        }
        double bound = tol.kind() == Tolerance.Kind.CLOSE ? tol.atol() + tol.rtol() * Math.abs(ev) : 0.0;
        if (d > bound) mismatch(path, "got " + a + ", expected " + e);
        return;
      }
      if (a.getNodeType() != e.getNodeType()) {
        mismatch(path, "expected " + e.getNodeType() + " " + e + ", got " + a.getNodeType() + " " + a);
        return;
      }
      if (e.isObject()) {
        java.util.Iterator<String> ai = a.fieldNames(), ei = e.fieldNames();
        while (ei.hasNext()) {
          String key = ei.next();
          if (!ai.hasNext()) {
            mismatch(path + "." + key, a.has(key) ? "key order differs (got <end>)" : "missing key");
            return;
          }
          String akey = ai.next();
          if (!akey.equals(key)) {
            mismatch(path + "." + key, a.has(key) ? "key order differs (got '" + akey + "')" : "missing key");
            return;
          }
          run(a.get(key), e.get(key), path + "." + key);
        }
        if (ai.hasNext()) mismatch(path + "." + ai.next(), "unexpected key");
        return;
      }
      if (e.isArray()) {
        if (a.size() != e.size()) mismatch(path, "length " + a.size() + " != expected " + e.size());
        for (int i = 0; i < Math.min(a.size(), e.size()); i++) run(a.get(i), e.get(i), path + "[" + i + "]");
        return;
      }
      boolean equal = e.isIntegralNumber() ? a.isIntegralNumber() && a.bigIntegerValue().equals(e.bigIntegerValue())
          : a.equals(e);
      if (!equal) mismatch(path, "got " + a + ", expected " + e);
    }
  }

  /** Compares {@code actual} with the expected tensor {@code name} under the case's tolerance. */
  void compare(String name, Tensor actual) throws VisCpmException {
    TensorInfo info = info(expectedInfo, name, "expected values");
    double[] a = Torch.toDoubles(actual);
    long[] actualShape = Torch.shape(actual);
    double[] e = info.dtype().equals("float64") ? readFloat64(expectedFile(), name) : toDoubles(read(expected, info));
    long[] shape = info.shape();
    Tolerance tol = tolerance(name);
    if (!Arrays.equals(actualShape, shape) && !(a.length == 1 && e.length == 1)) {
      fail(name, "shape " + Arrays.toString(actualShape) + " != expected " + Arrays.toString(shape));
      return;
    }
    double worst = 0, worstExcess = Double.NEGATIVE_INFINITY;
    int worstAt = 0, excessAt = 0, bad = 0;
    for (int i = 0; i < e.length; i++) {
      double diff = Math.abs(a[i] - e[i]);
      if (Double.isNaN(a[i]) && Double.isNaN(e[i])) diff = 0;
      else if (Double.isNaN(diff)) diff = Double.POSITIVE_INFINITY;
      double excess = switch (tol.kind) {
        case EXACT -> diff;
        case MAX_ABS -> diff - tol.maxAbs;
        case CLOSE -> diff - (tol.atol + tol.rtol * Math.abs(e[i]));
      };
      if (diff > worst) {
        worst = diff;
        worstAt = i;
      }
      if (excess > worstExcess) {
        worstExcess = excess;
        excessAt = i;
      }
      if (excess > 0) bad++;
    }
    if (e.length == 0 || worstExcess <= 0) {
      report.add(String.format("  %-32s PASS  max |diff| %.3g at %s (%s)", name, worst, index(worstAt, shape), tol));
    } else {
      fail(name, bad + "/" + e.length + " outside " + tol + "; worst at " + index(excessAt, shape) + ": actual "
          + a[excessAt] + " expected " + e[excessAt] + " (max |diff| " + worst + ")");
    }
  }

  private void fail(String name, String detail) {
    report.add(String.format("  %-32s FAIL  %s", name, detail));
    failures.add(name + ": " + detail);
  }

  private static String index(int flat, long[] shape) {
    long[] idx = new long[shape.length];
    long rest = flat;
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = shape[d] == 0 ? 0 : rest % shape[d];
      rest = shape[d] == 0 ? 0 : rest / shape[d];
    }
    return Arrays.toString(idx);
  }

  Tolerance tolerance(String name) {
    JsonNode tol = entry.path("tolerance");
    JsonNode spec = tol.has(name) ? tol.get(name) : tol.get("*");
    return Tolerance.parse(spec);
  }

  /** Prints the report and fails the test if any comparison failed. */
  void assertPassed() {
    System.out.println("JVM engine, golden case " + name() + ":");
    report.forEach(System.out::println);
    assertTrue(failures.isEmpty(), name() + " through the JVM engine: " + String.join("; ", failures));
  }

  @Override
  public void close() {
    if (inputs != null) inputs.close();
    if (expected != null) expected.close();
  }

  /** "exact", {"atol", "rtol"} or {"max_abs"} (fixtures README, "How to compare"). */
  record Tolerance(Kind kind, double atol, double rtol, double maxAbs) {
    enum Kind { EXACT, CLOSE, MAX_ABS }

    static Tolerance parse(JsonNode spec) {
      if (spec == null || spec.isNull()) return new Tolerance(Kind.EXACT, 0, 0, 0);
      if (spec.isTextual()) {
        if (!spec.asText().equals("exact")) throw new AssertionError("unknown tolerance '" + spec.asText() + "'");
        return new Tolerance(Kind.EXACT, 0, 0, 0);
      }
      if (!spec.isObject()) throw new AssertionError("tolerance must be \"exact\" or an object, got " + spec);
      if (spec.has("max_abs")) return new Tolerance(Kind.MAX_ABS, 0, 0, spec.get("max_abs").asDouble());
      return new Tolerance(Kind.CLOSE, spec.path("atol").asDouble(0), spec.path("rtol").asDouble(0), 0);
    }

    @Override
    public String toString() {
      return switch (kind) {
        case EXACT -> "exact";
        case MAX_ABS -> "max_abs " + maxAbs;
        case CLOSE -> "atol " + atol + " rtol " + rtol;
      };
    }
  }
}
