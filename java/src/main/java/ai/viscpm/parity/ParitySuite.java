package ai.viscpm.parity;

import ai.viscpm.Device;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_parity_suite;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A folder of golden cases (its {@code manifest.json}, format of the shared fixtures README),
 * run by the native runtime's own code. Works on any folder of that format.
 */
public final class ParitySuite extends NativeObject {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final viscpm_parity_suite handle;
  private final Path root;
  private final List<CaseEntry> cases;

  /** A case as the manifest lists it. */
  public record CaseEntry(int index, String name, String kind) {}

  private ParitySuite(viscpm_parity_suite handle, Path root, List<CaseEntry> cases) {
    this.handle = handle;
    this.root = root;
    this.cases = cases;
  }

  public static ParitySuite open(Path fixturesDir, Device device) throws VisCpmException {
    NativeLibrary.load();
    viscpm_parity_suite handle = new viscpm_parity_suite();
    try (BytePointer dir = NativeLibrary.utf8(fixturesDir.toString());
        BytePointer dev = NativeLibrary.utf8(device.nativeName())) {
      NativeLibrary.check(viscpm.viscpm_parity_open(dir, dev, handle));
    }
    List<CaseEntry> cases = new ArrayList<>();
    try {
      int i = 0;
      for (JsonNode c : JSON.readTree(fixturesDir.resolve("manifest.json").toFile()).path("cases")) {
        cases.add(new CaseEntry(i++, c.path("name").asText(), c.path("kind").asText()));
      }
    } catch (IOException e) {
      viscpm.viscpm_parity_free(handle);
      throw new ai.viscpm.FormatException(fixturesDir.resolve("manifest.json") + ": " + e.getMessage());
    }
    return new ParitySuite(handle, fixturesDir, List.copyOf(cases));
  }

  /** The cases in manifest order. */
  public List<CaseEntry> cases() {
    return cases;
  }

  public Path root() {
    return root;
  }

  public int caseCount() {
    return cases.size();
  }

  /** Case kinds this build implements. */
  public static List<String> implementedKinds() throws VisCpmException {
    NativeLibrary.load();
    try (PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
      NativeLibrary.check(viscpm.viscpm_parity_kinds(out));
      BytePointer text = out.get(BytePointer.class, 0);
      try {
        List<String> kinds = new ArrayList<>();
        for (JsonNode k : JSON.readTree(NativeLibrary.string(text))) kinds.add(k.asText());
        return kinds;
      } catch (IOException e) {
        throw new IllegalStateException("native kinds list is not JSON", e);
      } finally {
        viscpm.viscpm_string_free(text);
      }
    }
  }

  /** Runs case {@code index} (manifest order). A case that throws is a FAIL, not an exception. */
  public CaseReport run(int index) throws VisCpmException {
    try (Use use = use(); PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
      NativeLibrary.check(viscpm.viscpm_parity_run(handle, index, out));
      BytePointer text = out.get(BytePointer.class, 0);
      try {
        return parse(JSON.readTree(NativeLibrary.string(text)));
      } catch (IOException e) {
        throw new IllegalStateException("native report is not JSON", e);
      } finally {
        viscpm.viscpm_string_free(text);
      }
    }
  }

  private static CaseReport parse(JsonNode r) {
    List<CaseReport.Check> checks = new ArrayList<>();
    for (JsonNode c : r.path("checks")) {
      checks.add(new CaseReport.Check(c.path("name").asText(), c.path("pass").asBoolean(),
          c.path("worst").asDouble(), c.path("where").asText(), c.path("detail").asText()));
    }
    return new CaseReport(r.path("name").asText(), r.path("kind").asText(),
        CaseReport.Status.valueOf(r.path("status").asText()), r.path("summary").asText(),
        r.path("seconds").asDouble(), List.copyOf(checks));
  }

  @Override
  protected void release() {
    viscpm.viscpm_parity_free(handle);
    handle.setNull();
  }
}
