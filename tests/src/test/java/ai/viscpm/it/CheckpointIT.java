package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.Checkpoint;
import ai.viscpm.InvalidInputException;
import ai.viscpm.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Java view of checkpoints agrees with the reference's key lists, shapes and sums. */
class CheckpointIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static JsonNode expected(String caseName) throws Exception {
    return JSON.readTree(Fixtures.resolve("cases/" + caseName + "/expected.json").toFile());
  }

  @Test
  void keysShapesDtypesAndSumsMatchTheReference() throws Exception {
    JsonNode manifest = JSON.readTree(Fixtures.resolve("manifest.json").toFile());
    int checked = 0;
    for (JsonNode c : manifest.path("cases")) {
      if (!c.path("kind").asText().equals("checkpoint")) continue;
      JsonNode exp = expected(c.path("name").asText());
      try (Checkpoint ckpt = Checkpoint.open(Fixtures.resolve(c.path("checkpoint").asText()))) {
        assertEquals(exp.path("num_keys").asInt(), ckpt.tensors().size());
        JsonNode keys = exp.has("keys") ? exp.path("keys") : exp.path("tensors");
        Iterator<Map.Entry<String, JsonNode>> it = keys.fields();
        int i = 0;
        while (it.hasNext() && i < 40) {  // the first tensors in file order, read through a direct buffer
          Map.Entry<String, JsonNode> e = it.next();
          TensorInfo t = ckpt.tensors().get(i++);
          assertEquals(e.getKey(), t.name());
          long[] shape = JSON.convertValue(e.getValue().path("shape"), long[].class);
          assertEquals(java.util.Arrays.toString(shape), t.shapeString(), t.name());
          FloatBuffer data = ByteBuffer.allocateDirect((int) Math.max(1, t.numel()) * 4)
              .order(ByteOrder.nativeOrder()).asFloatBuffer();
          ckpt.readFloat(t.name(), data);
          double sum = 0;
          for (int k = 0; k < t.numel(); k++) sum += data.get(k);
          double ref = e.getValue().path("sum").asDouble();
          assertEquals(ref, sum, 1e-3 + 1e-5 * Math.abs(ref), t.name());
          checked++;
        }
      }
    }
    assertTrue(checked > 0, "no checkpoint case found in the manifest");
  }

  @Test
  void tooSmallBufferIsInvalidInput() throws Exception {
    Path file = Fixtures.resolve("models/chat/viscpm_chat.pt");
    try (Checkpoint ckpt = Checkpoint.open(file)) {
      TensorInfo big = ckpt.tensors().stream().filter(t -> t.numel() > 4).findFirst().orElseThrow();
      FloatBuffer tiny = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder()).asFloatBuffer();
      InvalidInputException e = assertThrows(InvalidInputException.class, () -> ckpt.readFloat(big.name(), tiny));
      assertTrue(e.getMessage().contains(big.name()), e.getMessage());
    }
  }

  @Test
  void useAfterCloseIsAnIllegalStateNotACrash() throws Exception {
    Checkpoint ckpt = Checkpoint.open(Fixtures.resolve("models/chat/viscpm_chat.pt"));
    String name = ckpt.tensors().get(0).name();
    ckpt.close();
    ckpt.close();  // idempotent
    FloatBuffer buf = ByteBuffer.allocateDirect(1 << 20).asFloatBuffer();
    assertThrows(IllegalStateException.class, () -> ckpt.readFloat(name, buf));
  }

  /** A safetensors file of one float32 tensor with `rank` dimensions of size 1. */
  static Path safetensorsOfRank(Path dir, int rank) throws Exception {
    String shape = String.join(",", java.util.Collections.nCopies(rank, "1"));
    byte[] header = ("{\"t\":{\"dtype\":\"F32\",\"shape\":[" + shape + "],\"data_offsets\":[0,4]}}")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ByteBuffer file = ByteBuffer.allocate(8 + header.length + 4).order(ByteOrder.LITTLE_ENDIAN);
    file.putLong(header.length).put(header).putFloat(1.5f);
    Path path = dir.resolve("rank" + rank + ".safetensors");
    java.nio.file.Files.write(path, file.array());
    return path;
  }

  @Test
  void ranksBeyondTheLimitAreRefusedAtOpenWithoutLeakingTheHandle(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    try (Checkpoint ok = Checkpoint.open(safetensorsOfRank(dir, 16))) {
      assertEquals(16, ok.tensors().get(0).shape().length);
    }
    for (int rank : new int[] {17, 64, 65}) {
      var e = assertThrows(ai.viscpm.UnsupportedFeatureException.class, () -> Checkpoint.open(safetensorsOfRank(dir, rank)));
      assertTrue(e.getMessage().contains(rank + " dimensions; at most 16"), e.getMessage());
    }
  }
}
