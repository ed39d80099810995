package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.CancelledException;
import ai.viscpm.Checkpoint;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import ai.viscpm.testkit.DemoModels;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** VisCPM-Paint through the Java API on the fixture model. */
class PaintIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static PaintModel model;
  private static JsonNode params;

  @BeforeAll
  static void load() throws Exception {
    model = PaintModel.load(Fixtures.resolve("models/paint"), null, Fixtures.resolve("vocab/bee.txt"),
        ModelOptions.defaults());
    JsonNode manifest = JSON.readTree(Fixtures.resolve("manifest.json").toFile());
    for (JsonNode c : manifest.path("cases")) {
      if (c.path("kind").asText().equals("paint_pipeline")) params = c.path("params");
    }
  }

  @AfterAll
  static void close() {
    model.close();
  }

  private static PaintRequest.Builder small(long seed) {
    int side = model.sizeMultiple();
    return PaintRequest.builder("a red hat").size(side, side).steps(3).seed(seed);
  }

  private static byte[] bytes(PaintResult r, int i) {
    ByteBuffer b = r.rgb(i);
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  @Test
  void lowMemoryModeGivesTheSameBytes() throws Exception {
    ModelOptions lean = ModelOptions.builder().lowMemory(true).build();
    try (PaintModel onDemand = PaintModel.load(Fixtures.resolve("models/paint"), null,
        Fixtures.resolve("vocab/bee.txt"), lean)) {
      PaintResult a = onDemand.generate(small(21).build());
      PaintResult b = model.generate(small(21).build());
      assertTrue(java.util.Arrays.equals(bytes(a, 0), bytes(b, 0)));
    }
  }

  @Test
  void chatRefusesLowMemoryModeClearly() {
    ModelOptions lean = ModelOptions.builder().lowMemory(true).build();
    InvalidInputException e = assertThrows(InvalidInputException.class, () -> ai.viscpm.chat.ChatModel.load(
        Fixtures.resolve("models/chat"), Fixtures.resolve("models/chat/viscpm_chat.pt"), null, null,
        Fixtures.resolve("vocab/bee.txt"), lean));
    assertTrue(e.getMessage().contains("low_memory applies to VisCPM-Paint only"), e.getMessage());
  }

  @Test
  void referencePipelineImageMatches() throws Exception {
    int size = params.path("image_size").asInt();
    PaintResult r = model.generate(PaintRequest.builder(params.path("prompt").asText())
        .negativePrompt(params.path("negative_prompt").isNull() ? "" : params.path("negative_prompt").asText())
        .guidanceScale((float) params.path("guidance_scale").asDouble()).steps(params.path("num_inference_steps").asInt())
        .size(size, size).seed(params.path("seed").asLong()).build());
    FloatBuffer expected;
    try (Checkpoint exp = Checkpoint.open(Fixtures.resolve("cases/paint_pipeline/expected.safetensors"))) {
      expected = ByteBuffer.allocateDirect(size * size * 3 * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
      exp.readFloat("image_uint8", expected);
    }
    byte[] got = bytes(r, 0);
    int worst = 0;
    for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs((got[i] & 0xff) - (int) expected.get(i)));
    assertTrue(worst <= 1, "worst pixel difference " + worst);
    assertEquals(params.path("seed").asLong(), r.seed());
  }

  @Test
  void seedsReproduceAndDiffer() throws Exception {
    byte[] a = bytes(model.generate(small(1).build()), 0);
    byte[] b = bytes(model.generate(small(1).build()), 0);
    byte[] c = bytes(model.generate(small(2).build()), 0);
    assertTrue(java.util.Arrays.equals(a, b), "same seed, same bytes");
    assertTrue(!java.util.Arrays.equals(a, c), "another seed, other bytes");
  }

  @Test
  void everySchedulerPaints() throws Exception {
    for (String s : PaintModel.schedulers()) {
      PaintResult r = model.generate(small(3).scheduler(s).build());
      assertEquals(1, r.count(), s);
    }
  }

  @Test
  void severalImagesInOneBatchAndFiles(@TempDir Path dir) throws Exception {
    PaintResult r = model.generate(small(5).numImages(3).build());
    assertEquals(3, r.count());
    assertNotEquals(java.util.Arrays.toString(bytes(r, 0)), java.util.Arrays.toString(bytes(r, 1)));
    Path png = dir.resolve("x.png");
    r.writePng(2, png);
    assertEquals(r.width(), ImageIO.read(png.toFile()).getWidth());
    assertEquals(3 * r.width(), r.grid().getWidth());
  }

  @Test
  void progressListenerSeesEveryStepAndCanCancel() throws Exception {
    AtomicInteger steps = new AtomicInteger();
    model.generate(small(4).steps(4).build(), (step, total) -> {
      assertEquals(4, total);
      assertEquals(steps.incrementAndGet(), step);
      return true;
    });
    assertEquals(4, steps.get());
    assertThrows(CancelledException.class, () -> model.generate(small(4).steps(4).build(), (step, total) -> step < 2));
  }

  @Test
  void badRequestsAreInvalidInput() {
    int m = model.sizeMultiple();
    assertThrows(InvalidInputException.class, () -> model.generate(small(1).size(m + 3, m).build()));
    assertThrows(InvalidInputException.class, () -> model.generate(small(1).steps(0).build()));
    assertThrows(InvalidInputException.class, () -> model.generate(small(1).guidanceScale(Float.NaN).build()));
    assertThrows(InvalidInputException.class, () -> model.generate(small(1).scheduler("warp-drive").build()));
    assertThrows(InvalidInputException.class, () -> model.generate(small(1).numImages(0).build()));
    assertThrows(InvalidInputException.class, () -> model.generate(small(1).size(-8, -8).build()));
  }

  @Test
  void badModelDirectoriesAreNamed(@TempDir Path dir) throws Exception {
    assertThrows(ResourceNotFoundException.class, () -> PaintModel.load(dir));
    assertThrows(ResourceNotFoundException.class, () -> PaintModel.load(dir.resolve("absent")));
    Path copy = Files.createDirectories(dir.resolve("m"));
    Files.copy(Fixtures.resolve("models/paint/viscpm_paint.pt"), copy.resolve("viscpm_paint.pt"));
    Files.copy(Fixtures.resolve("models/paint/cpm-bee.json"), copy.resolve("cpm-bee.json"));
    Files.copy(Fixtures.resolve("vocab/bee.txt"), copy.resolve("bee.txt"));
    ResourceNotFoundException e = assertThrows(ResourceNotFoundException.class, () -> PaintModel.load(copy));
    assertTrue(e.getMessage().contains("unet") || e.getMessage().contains("config.json"), e.getMessage());
  }

  /** A UNet config whose widths do not fit the checkpoint, and a VAE file missing: typed and named. */
  @Test
  void mismatchedConfigsAreFormatErrors(@TempDir Path dir) throws Exception {
    Path src = Fixtures.resolve("models/paint");
    Path copy = dir.resolve("m");
    copyTree(src, copy);
    Path unetConfig = copy.resolve("stabilityai/stable-diffusion-2-1-base/unet/config.json");
    com.fasterxml.jackson.databind.node.ObjectNode cfg =
        (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(unetConfig.toFile());
    cfg.put("cross_attention_dim", cfg.path("cross_attention_dim").asInt() * 2);
    Files.delete(unetConfig);
    JSON.writeValue(unetConfig.toFile(), cfg);
    ai.viscpm.FormatException e = assertThrows(ai.viscpm.FormatException.class,
        () -> PaintModel.load(copy, null, Fixtures.resolve("vocab/bee.txt"), ModelOptions.defaults()));
    assertTrue(e.getMessage().length() > 20, e.getMessage());
    Files.delete(copy.resolve("stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors"));
    ResourceNotFoundException missing = assertThrows(ResourceNotFoundException.class,
        () -> PaintModel.load(copy, null, Fixtures.resolve("vocab/bee.txt"), ModelOptions.defaults()));
    assertTrue(missing.getMessage().contains("vae"), missing.getMessage());
  }

  private static void copyTree(Path from, Path to) throws java.io.IOException {
    try (var paths = Files.walk(from)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) Files.createDirectories(target);
        else Files.copy(p, target);
      }
    }
  }

  @Test
  void demoModelRoundTrip(@TempDir Path dir) throws Exception {
    DemoModels.writePaintModel(dir);
    try (PaintModel demo = PaintModel.load(dir)) {
      PaintResult r = demo.generate(PaintRequest.builder("cat").size(demo.sizeMultiple(), demo.sizeMultiple())
          .steps(2).seed(9).build());
      assertEquals(demo.sizeMultiple(), r.width());
    }
  }
}
