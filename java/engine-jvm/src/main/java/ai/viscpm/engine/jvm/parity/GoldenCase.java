package ai.viscpm.engine.jvm.parity;

import ai.viscpm.engine.jvm.Torch;
import ai.viscpm.Checkpoint;
import ai.viscpm.FormatException;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * One golden case of a fixtures folder (fixtures README): its manifest entry, its tensors
 * (read through the C API as float32: ids, masks and indices are small integers, exact in
 * float32), its JSON files, and the comparison rules as native/testkit/parity applies them:
 * per-name tolerance, else {@code "*"}, else exact; equal shapes (a 1-element tensor matches
 * a scalar); NaN only where expected; JSON structure exact, floats under
 * {@code tolerance.json_floats}. Every comparison is recorded as a {@link ParityReport.Check}.
 */
public final class GoldenCase implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  final Path root;
  final JsonNode manifest;
  final JsonNode entry;
  private final Checkpoint inputs, expected;
  private final Map<String, TensorInfo> inputInfo = new HashMap<>(), expectedInfo = new HashMap<>();
  private final List<ParityReport.Check> checks = new ArrayList<>();
  private JsonNode inputsJson, expectedJson;

  GoldenCase(Path root, JsonNode manifest, JsonNode entry) throws VisCpmException {
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

  /** The case named {@code name} of the fixtures folder {@code root}. */
  public static GoldenCase named(Path root, String name) throws IOException, VisCpmException {
    JsonNode manifest = JSON.readTree(root.resolve("manifest.json").toFile());
    for (JsonNode c : manifest.path("cases")) {
      if (name.equals(c.path("name").asText())) return new GoldenCase(root, manifest, c);
    }
    throw new FormatException("the fixtures manifest has no case \"" + name + "\"");
  }

  private Checkpoint open(JsonNode file, Map<String, TensorInfo> info) throws VisCpmException {
    if (file.isMissingNode()) return null;
    Checkpoint c = Checkpoint.open(root.resolve(file.asText()));
    for (TensorInfo t : c.tensors()) info.put(t.name(), t);
    return c;
  }

  public String name() {
    return entry.path("name").asText();
  }

  public String kind() {
    return entry.path("kind").asText();
  }

  public JsonNode params() {
    return entry.path("params");
  }

  public JsonNode manifest() {
    return manifest;
  }

  public Path resolve(String relative) {
    return root.resolve(relative);
  }

  public Path checkpoint() {
    return root.resolve(entry.path("checkpoint").asText());
  }

  /** The case model's folder. */
  public Path modelDir() {
    return root.resolve(entry.path("model").asText());
  }

  /** The cpm-bee.json of the case's model. */
  public Path cpmBeeConfig() {
    return modelConfig("cpm_bee_config", "cpm-bee.json");
  }

  /**
   * A config file of the case's model: {@code key} of the manifest's "models" entry whose dir
   * is the case's model, else {@code <model dir>/fallback}.
   */
  public Path modelConfig(String key, String fallback) {
    String model = entry.path("model").asText();
    for (JsonNode m : manifest.path("models")) {
      if (model.equals(m.path("dir").asText()) && m.has(key)) return root.resolve(m.path(key).asText());
    }
    return root.resolve(model).resolve(fallback);
  }

  /**
   * A file named by {@code params[paramKey]} (relative to the fixtures folder), else by the
   * manifest's model entry of the case {@code modelKey}.
   */
  public Path paramPath(String paramKey, String modelKey) {
    JsonNode p = params().path(paramKey);
    if (p.isTextual()) return root.resolve(p.asText());
    return modelConfig(modelKey, modelKey);
  }

  /** A file of the case's inputs ({@code inputs.files}), by its file name. */
  public Path inputFile(String fileName) throws FormatException {
    for (JsonNode f : entry.path("inputs").path("files")) {
      Path p = root.resolve(f.asText());
      if (p.getFileName().toString().equals(fileName) || f.asText().equals(fileName)) return p;
    }
    JsonNode json = entry.path("inputs").path("json");
    if (json.isTextual()) return root.resolve(json.asText()).resolveSibling(fileName);
    throw new FormatException(name() + ": the case has no input file '" + fileName + "'");
  }

  public JsonNode inputsJson() throws IOException, FormatException {
    if (inputsJson == null) inputsJson = readJson("inputs");
    return inputsJson;
  }

  public JsonNode expectedJson() throws IOException, FormatException {
    if (expectedJson == null) expectedJson = readJson("expected");
    return expectedJson;
  }

  private JsonNode readJson(String section) throws IOException, FormatException {
    JsonNode file = entry.path(section).path("json");
    if (!file.isTextual()) throw new FormatException(name() + ": case has no " + section + ".json");
    return JSON.readTree(root.resolve(file.asText()).toFile());
  }

  public long[] inputShape(String name) throws FormatException {
    return info(inputInfo, name, "inputs").shape();
  }

  public boolean hasInput(String name) {
    return inputInfo.containsKey(name);
  }

  public float[] inputFloats(String name) throws VisCpmException {
    return read(inputs, info(inputInfo, name, "inputs"));
  }

  public long[] inputLongs(String name) throws VisCpmException {
    float[] f = inputFloats(name);
    long[] out = new long[f.length];
    for (int i = 0; i < f.length; i++) {
      out[i] = (long) f[i];
      if (out[i] != f[i]) throw new FormatException(name + "[" + i + "] = " + f[i] + " is not an integer");
    }
    return out;
  }

  /** An input as a new float32 tensor (the caller's scope owns it). */
  public Tensor inputTensor(String name) throws VisCpmException {
    return Torch.floats(inputFloats(name), inputShape(name));
  }

  public long[] expectedLongs(String name) throws VisCpmException {
    float[] f = read(expected, info(expectedInfo, name, "expected values"));
    long[] out = new long[f.length];
    for (int i = 0; i < f.length; i++) out[i] = (long) f[i];
    return out;
  }

  private TensorInfo info(Map<String, TensorInfo> infos, String name, String what) throws FormatException {
    TensorInfo t = infos.get(name);
    if (t == null) throw new FormatException(name() + ": the case's " + what + " have no tensor '" + name + "'");
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

  // ------------------------------------------------------------------------------ comparisons

  /** Compares {@code actual} with the expected tensor {@code name} under the case's tolerance. */
  public void compare(String name, Tensor actual) throws VisCpmException {
    TensorInfo info = info(expectedInfo, name, "expected values");
    double[] e = info.dtype().equals("float64") ? readFloat64(expectedFile(), name) : widen(read(expected, info));
    compare(name, Torch.toDoubles(actual), Torch.shape(actual), e, info.shape());
  }

  /** Names of the case's expected tensors, sorted. */
  public List<String> expectedNames() {
    return expectedInfo.keySet().stream().sorted().toList();
  }

  /** Whether the case's expected tensors include {@code name}. */
  public boolean hasExpected(String name) {
    return expectedInfo.containsKey(name);
  }

  /** An expected tensor's values (float64 ones exactly). */
  public double[] expectedDoubles(String name) throws VisCpmException {
    TensorInfo info = info(expectedInfo, name, "expected values");
    return info.dtype().equals("float64") ? readFloat64(expectedFile(), name) : widen(read(expected, info));
  }

  private static double[] widen(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }

  private Path expectedFile() {
    return root.resolve(entry.path("expected").path("tensors").asText());
  }

  /**
   * A float64 tensor of a safetensors file, read exactly (the C API reads as float32, which
   * would round float64 expectations such as the Euler schedulers' timesteps).
   */
  static double[] readFloat64(Path file, String name) throws FormatException {
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(len, 0);
      long headerSize = len.getLong(0);
      ByteBuffer header = ByteBuffer.allocate(Math.toIntExact(headerSize));
      ch.read(header, 8);
      JsonNode node = JSON.readTree(new String(header.array(), java.nio.charset.StandardCharsets.UTF_8)).path(name);
      if (!node.path("dtype").asText().equals("F64")) throw new FormatException(name + " is not F64 in " + file);
      long begin = node.path("data_offsets").get(0).asLong(), end = node.path("data_offsets").get(1).asLong();
      ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(end - begin)).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(data, 8 + headerSize + begin);
      data.flip();
      double[] out = new double[data.remaining() / 8];
      data.asDoubleBuffer().get(out);
      return out;
    } catch (IOException e) {
      throw new FormatException("cannot read " + name + " from " + file + ": " + e.getMessage());
    }
  }

  void compare(String name, double[] a, long[] actualShape, double[] e, long[] shape) throws FormatException {
    Tolerance tol = tolerance(name);
    if (!Arrays.equals(actualShape, shape) && !(a.length == 1 && e.length == 1)) {
      checks.add(new ParityReport.Check(name, false, 0, "", "shape " + Arrays.toString(actualShape)
          + " != expected " + Arrays.toString(shape)));
      return;
    }
    if (e.length == 0) {
      checks.add(new ParityReport.Check(name, true, 0, "", ""));
      return;
    }
    double worst = -1, worstExcess = Double.NEGATIVE_INFINITY;
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
      if (diff > worst) {  // first maximum, as argmax
        worst = diff;
        worstAt = i;
      }
      if (excess > worstExcess) {
        worstExcess = excess;
        excessAt = i;
      }
      if (excess > 0) bad++;
    }
    boolean pass = worstExcess <= 0;
    int where = pass ? worstAt : excessAt;
    String detail = pass ? "" : bad + "/" + e.length + " outside " + tol + "; actual " + format9(a[where])
        + " expected " + format9(e[where]);
    checks.add(new ParityReport.Check(name, pass, worst, index(where, shape), detail));
  }

  private static String format9(double v) {
    return new java.math.BigDecimal(v).round(new java.math.MathContext(9)).stripTrailingZeros().toString();
  }

  /** Compares a JSON document with the expected one (README, "How to compare"). */
  public void compareJson(String label, JsonNode actual, JsonNode expectedDoc) throws FormatException {
    JsonComparer cmp = new JsonComparer();
    JsonNode tol = entry.path("tolerance");
    if (tol.has("json_floats")) {
      Tolerance t = Tolerance.parse(tol.get("json_floats"));
      cmp.floatsClose = true;
      cmp.atol = t.atol;
      cmp.rtol = t.rtol;
    }
    cmp.run(actual, expectedDoc, "$");
    boolean pass = cmp.mismatches == 0;
    checks.add(new ParityReport.Check(label, pass, pass ? cmp.worst : cmp.mismatches,
        pass ? cmp.worstPath : cmp.firstMismatch,
        pass ? "" : cmp.mismatches + " mismatch(es), first at " + cmp.firstMismatch));
  }

  /** Records a failed check (an error, a missing value). */
  public void fail(String name, String detail) {
    checks.add(new ParityReport.Check(name, false, 0, "", detail));
  }

  public List<ParityReport.Check> checks() {
    return List.copyOf(checks);
  }

  private static final class JsonComparer {
    boolean floatsClose;
    double atol, rtol, worst;
    String firstMismatch = "", worstPath = "";
    int mismatches;

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
        double bound = floatsClose ? atol + rtol * Math.abs(ev) : 0.0;
        if (d > bound) mismatch(path, "got " + a + ", expected " + e);
        return;
      }
      if (e.getNodeType() != a.getNodeType()) {
        mismatch(path, "expected " + e.getNodeType().name().toLowerCase() + " " + cut(e.toString(), 80) + ", got "
            + a.getNodeType().name().toLowerCase() + " " + cut(a.toString(), 80));
        return;
      }
      if (e.isObject()) {
        Iterator<String> ai = a.fieldNames(), ei = e.fieldNames();
        while (ei.hasNext()) {
          String key = ei.next();
          String akey = ai.hasNext() ? ai.next() : null;
          if (!key.equals(akey)) {
            if (!a.has(key)) mismatch(path + "." + key, "missing key");
            else mismatch(path + "." + key, "key order differs (got '" + (akey == null ? "<end>" : akey) + "')");
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
      if (!equal) mismatch(path, "got " + cut(a.toString(), 120) + ", expected " + cut(e.toString(), 120));
    }

    private static String cut(String s, int n) {
      return s.length() <= n ? s : s.substring(0, n);
    }
  }

  private static String index(int flat, long[] shape) {
    long[] idx = new long[shape.length];
    long rest = flat;
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = shape[d] == 0 ? 0 : rest % shape[d];
      rest = shape[d] == 0 ? 0 : rest / shape[d];
    }
    StringBuilder s = new StringBuilder("[");
    for (int i = 0; i < idx.length; i++) s.append(i == 0 ? "" : ", ").append(idx[i]);
    return s.append("]").toString();
  }

  public Tolerance tolerance(String name) throws FormatException {
    JsonNode tol = entry.path("tolerance");
    JsonNode spec = tol.has(name) ? tol.get(name) : tol.get("*");
    return Tolerance.parse(spec);
  }

  @Override
  public void close() {
    if (inputs != null) inputs.close();
    if (expected != null) expected.close();
  }

  /** "exact", {"atol", "rtol"} or {"max_abs"} (fixtures README, "How to compare"). */
  public record Tolerance(Kind kind, double atol, double rtol, double maxAbs) {
    public enum Kind { EXACT, CLOSE, MAX_ABS }

    public static Tolerance parse(JsonNode spec) throws FormatException {
      if (spec == null || spec.isNull() || spec.isMissingNode()) return new Tolerance(Kind.EXACT, 0, 0, 0);
      if (spec.isTextual()) {
        if (!spec.asText().equals("exact")) throw new FormatException("unknown tolerance '" + spec.asText() + "'");
        return new Tolerance(Kind.EXACT, 0, 0, 0);
      }
      if (!spec.isObject()) throw new FormatException("tolerance must be \"exact\" or an object, got " + spec);
      if (spec.has("max_abs")) return new Tolerance(Kind.MAX_ABS, 0, 0, spec.get("max_abs").asDouble());
      return new Tolerance(Kind.CLOSE, spec.path("atol").asDouble(0), spec.path("rtol").asDouble(0), 0);
    }

    @Override
    public String toString() {
      return switch (kind) {
        case EXACT -> "exact";
        case MAX_ABS -> "max_abs " + ParityReport.number(maxAbs);
        case CLOSE -> "atol " + ParityReport.number(atol) + " rtol " + ParityReport.number(rtol);
      };
    }
  }
}
