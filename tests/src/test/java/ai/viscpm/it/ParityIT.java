package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.Device;
import ai.viscpm.testkit.CaseReport;
import ai.viscpm.testkit.ParitySuite;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The golden-case runner through the Java API, on the shared fixtures and on other folders. */
class ParityIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void sharedFixturesHaveNoFailureAndCheckpointCasesPass() throws Exception {
    List<String> implemented = ParitySuite.implementedKinds();
    assertTrue(implemented.contains("checkpoint"), "checkpoint kind must be implemented: " + implemented);
    List<String> failures = new ArrayList<>();
    int checkpointPasses = 0;
    try (ParitySuite suite = ParitySuite.open(Fixtures.dir(), Device.CPU)) {
      for (ParitySuite.CaseEntry entry : suite.cases()) {
        CaseReport r = suite.run(entry.index());
        System.out.println(r.line());
        assertEquals(implemented.contains(r.kind()), r.status() != CaseReport.Status.SKIP, r.line());
        if (r.status() == CaseReport.Status.FAIL) failures.add(r.line());
        if (r.kind().equals("checkpoint") && r.status() == CaseReport.Status.PASS) checkpointPasses++;
      }
    }
    assertTrue(failures.isEmpty(), "failing golden cases:\n" + String.join("\n", failures));
    assertEquals(3, checkpointPasses);
  }

  private static List<String> iterable(ObjectNode node) {
    List<String> keys = new ArrayList<>();
    node.fieldNames().forEachRemaining(keys::add);
    return keys;
  }

  /**
   * A fixtures folder laid out differently (other case names and folders, models elsewhere)
   * runs the same; a perturbed expected value fails; an unknown kind is skipped.
   */
  @Test
  void anyFolderOfTheFormatWorksAndWrongValuesFail(@TempDir Path dir) throws Exception {
    Path shared = Fixtures.dir();
    ObjectNode manifest = (ObjectNode) JSON.readTree(shared.resolve("manifest.json").toFile());
    Path models = dir.resolve("weights");
    Files.createDirectories(models);
    Files.createSymbolicLink(models.resolve("m"), shared.resolve("models"));
    ArrayNode cases = JSON.createArrayNode();
    for (var node : manifest.path("cases")) {
      ObjectNode c = (ObjectNode) node.deepCopy();
      if (!c.path("kind").asText().equals("checkpoint")) continue;
      String name = "moved_" + c.path("name").asText();
      Path caseDir = dir.resolve("golden").resolve(name);
      Files.createDirectories(caseDir);
      Files.copy(shared.resolve(c.path("expected").path("json").asText()), caseDir.resolve("e.json"));
      c.put("name", name);
      ((ObjectNode) c.path("expected")).put("json", "golden/" + name + "/e.json");
      c.put("model", "weights/m/" + c.path("model").asText().replaceFirst("^models/", ""));
      c.put("checkpoint", "weights/m/" + c.path("checkpoint").asText().replaceFirst("^models/", ""));
      cases.add(c);
      if (cases.size() == 1) {
        // A perturbed copy: one reference sum moved by 1.0 must make the case fail.
        ObjectNode bad = c.deepCopy();
        bad.put("name", name + "_perturbed");
        Path badDir = dir.resolve("golden").resolve(name + "_perturbed");
        Files.createDirectories(badDir);
        ObjectNode exp = (ObjectNode) JSON.readTree(caseDir.resolve("e.json").toFile());
        ObjectNode first = (ObjectNode) exp.path("keys").elements().next();
        first.put("sum", first.path("sum").asDouble() + 1.0);
        JSON.writeValue(badDir.resolve("e.json").toFile(), exp);
        ((ObjectNode) bad.path("expected")).put("json", "golden/" + name + "_perturbed/e.json");
        cases.add(bad);
      }
    }
    ObjectNode unknown = JSON.createObjectNode();
    unknown.put("name", "from_the_future");
    unknown.put("kind", "hologram_render");
    cases.add(unknown);
    for (var model : manifest.path("models")) {
      ObjectNode m = (ObjectNode) model;
      for (String k : iterable(m)) {
        m.put(k, "weights/m/" + m.path(k).asText().replaceFirst("^models/", ""));
      }
    }
    manifest.set("cases", cases);
    manifest.put("set", "relocated");
    JSON.writeValue(dir.resolve("manifest.json").toFile(), manifest);

    try (ParitySuite suite = ParitySuite.open(dir, Device.CPU)) {
      int pass = 0, fail = 0, skip = 0;
      for (ParitySuite.CaseEntry entry : suite.cases()) {
        CaseReport r = suite.run(entry.index());
        System.out.println(r.line());
        switch (r.status()) {
          case PASS -> { pass++; assertTrue(!r.name().endsWith("_perturbed"), r.line()); }
          case FAIL -> { fail++; assertTrue(r.name().endsWith("_perturbed"), r.line()); assertTrue(r.summary().contains("sum"), r.summary()); }
          case SKIP -> { skip++; assertEquals("hologram_render", r.kind()); }
        }
      }
      assertEquals(3, pass);
      assertEquals(1, fail);
      assertEquals(1, skip);
    }
  }
}
