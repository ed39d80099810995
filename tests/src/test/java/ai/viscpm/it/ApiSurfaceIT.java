package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.DType;
import ai.viscpm.InvalidInputException;
import ai.viscpm.PixelFormat;
import ai.viscpm.VisCpm;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The public API's surface: its jar holds no test kit and no JSON library, its defaults come
 * from the native *_default_params(), and enums cross by name.
 */
class ApiSurfaceIT {
  /** Class files of the jar (or classes folder) that VisCpm was loaded from. */
  static List<String> apiClassFiles() throws Exception {
    Path where = Path.of(VisCpm.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    List<String> names = new ArrayList<>();
    if (Files.isDirectory(where)) {
      try (Stream<Path> files = Files.walk(where)) {
        files.filter(p -> p.toString().endsWith(".class"))
            .forEach(p -> names.add(where.relativize(p).toString().replace(File.separatorChar, '/')));
      }
    } else {
      try (JarFile jar = new JarFile(where.toFile())) {
        jar.stream().map(e -> e.getName()).filter(n -> n.endsWith(".class")).forEach(names::add);
      }
    }
    return names;
  }

  @Test
  void apiHoldsNoTestKitAndNeedsNoJson() throws Exception {
    List<String> classes = apiClassFiles();
    assertTrue(classes.contains("ai/viscpm/chat/ChatModel.class"), classes.toString());
    for (String name : classes) {
      assertFalse(name.contains("parity") || name.contains("testkit") || name.contains("Demo"), name);
    }
    // Jackson is the CLI's, not the API's: no API class refers to it.
    Path where = Path.of(VisCpm.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    if (!Files.isDirectory(where)) {
      try (JarFile jar = new JarFile(where.toFile())) {
        for (var entry : (Iterable<java.util.jar.JarEntry>) jar.stream()::iterator) {
          if (!entry.getName().endsWith(".class")) continue;
          String bytes = new String(jar.getInputStream(entry).readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
          assertFalse(bytes.contains("com/fasterxml/jackson"), entry.getName());
        }
      }
    }
  }

  @Test
  void buildersStartFromTheNativeDefaults() {
    GenerationConfig g = GenerationConfig.defaults();
    assertEquals(GenerationConfig.Decoding.BEAM_SEARCH, g.decoding());
    assertEquals(3, g.beamSize());
    assertEquals(512, g.maxLength());
    assertEquals(1.1f, g.repetitionPenalty());
    PaintRequest p = PaintRequest.builder("a cat").build();
    assertEquals("ddpm", p.scheduler());
    assertEquals(50, p.steps());
    assertEquals(7.5f, p.guidanceScale());
    assertEquals(1, p.numImages());
    assertEquals(0, p.width());
  }

  @Test
  void schedulersAreTheNativeEnumInOrder() {
    assertEquals(List.of("ddpm", "ddim", "pndm", "euler", "euler_ancestral", "dpmsolver_multistep"),
        PaintModel.schedulers());
  }

  @Test
  void everyJavaEnumHasItsNativeName() throws Exception {
    for (DType d : DType.values()) assertTrue(ai.viscpm.internal.NativeEnums.dtype(d) >= 0, d.name());
    for (PixelFormat f : PixelFormat.values()) assertTrue(ai.viscpm.internal.NativeEnums.pixelFormat(f) >= 0);
    for (GenerationConfig.Decoding d : GenerationConfig.Decoding.values()) {
      assertTrue(ai.viscpm.internal.NativeEnums.decoding(d) >= 0, d.name());
    }
    assertEquals(1, ai.viscpm.internal.NativeEnums.scheduler("DDIMScheduler"));
    assertEquals(4, ai.viscpm.internal.NativeEnums.scheduler("euler_a"));
    InvalidInputException e =
        assertThrows(InvalidInputException.class, () -> ai.viscpm.internal.NativeEnums.scheduler("warp"));
    assertTrue(e.getMessage().contains("warp") && e.getMessage().contains("ddim"), e.getMessage());
  }
}
