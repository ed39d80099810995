package ai.viscpm.testkit;

import ai.viscpm.Device;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.testkit.internal.jni.global.viscpm_testkit;
import ai.viscpm.testkit.internal.jni.viscpm_parity_check;
import ai.viscpm.testkit.internal.jni.viscpm_parity_report;
import ai.viscpm.testkit.internal.jni.viscpm_parity_suite;
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
    TestkitLibrary.load();
    viscpm_parity_suite handle = new viscpm_parity_suite();
    try (BytePointer dir = NativeLibrary.utf8(fixturesDir.toString());
        BytePointer dev = NativeLibrary.utf8(device.nativeName())) {
      TestkitLibrary.check(viscpm_testkit.viscpm_parity_open(dir, dev, handle));
    }
    List<CaseEntry> cases = new ArrayList<>();
    long n = viscpm_testkit.viscpm_parity_case_count(handle);
    for (int i = 0; i < n; i++) {
      cases.add(new CaseEntry(i, NativeLibrary.string(viscpm_testkit.viscpm_parity_case_name(handle, i)),
          NativeLibrary.string(viscpm_testkit.viscpm_parity_case_kind(handle, i))));
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
  public static List<String> implementedKinds() {
    TestkitLibrary.load();
    List<String> kinds = new ArrayList<>();
    int n = viscpm_testkit.viscpm_parity_kind_count();
    for (int i = 0; i < n; i++) kinds.add(NativeLibrary.string(viscpm_testkit.viscpm_parity_kind_name(i)));
    return kinds;
  }

  /** Runs case {@code index} (manifest order). A case that throws is a FAIL, not an exception. */
  public CaseReport run(int index) throws VisCpmException {
    try (Use use = use(); PointerPointer<viscpm_parity_report> out = new PointerPointer<>(1)) {
      TestkitLibrary.check(viscpm_testkit.viscpm_parity_run(handle, index, out));
      viscpm_parity_report r = out.get(viscpm_parity_report.class, 0);
      try {
        List<CaseReport.Check> checks = new ArrayList<>();
        for (long i = 0; i < r.check_count(); i++) {
          viscpm_parity_check c = new viscpm_parity_check(r.checks()).position(i);
          checks.add(new CaseReport.Check(NativeLibrary.string(c.name()), c.pass() != 0, c.worst(),
              NativeLibrary.string(c.where()), NativeLibrary.string(c.detail())));
        }
        return new CaseReport(NativeLibrary.string(r.name()), NativeLibrary.string(r.kind()),
            CaseReport.Status.valueOf(NativeLibrary.string(viscpm_testkit.viscpm_parity_status_name(r.status()))),
            NativeLibrary.string(r.summary()), r.seconds(), List.copyOf(checks));
      } finally {
        viscpm_testkit.viscpm_parity_report_free(r);
      }
    }
  }

  @Override
  protected void release() {
    viscpm_testkit.viscpm_parity_free(handle);
    handle.setNull();
  }
}
