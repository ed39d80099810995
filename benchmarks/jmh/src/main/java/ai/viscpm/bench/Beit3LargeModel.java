package ai.viscpm.bench;

import ai.viscpm.Checkpoint;
import ai.viscpm.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A VisCPM-Chat directory whose vision side is BEiT-3 large (the released configuration: dim
 * 1024, 24 multiway layers, 16 heads, ffn 4096, 224x224 patches of 16, 64 queries; random weights,
 * 2.3 GB of safetensors) and whose CPM-Bee is the fixture's tiny one (copied, so the mapping goes
 * to dim 16): what both engines need to open a chat session, which is the BEiT-3 encode. Shapes
 * come from the fixture checkpoint's keys with 32 (its BEiT-3 dim) read as 1024 and, inside the
 * layers, 64 (its ffn dim) as 4096; its 2 layers become 24.
 */
public final class Beit3LargeModel {
  static final int DIM = 1024, FFN = 4096, LAYERS = 24, HEADS = 16;

  private Beit3LargeModel() {}

  public static void main(String[] args) throws Exception {
    ensure(Path.of(args[0]), Path.of(args[1]));
  }

  public static Path ensure(Path fixtures, Path out) throws Exception {
    Path done = out.resolve(".complete");
    if (Files.exists(done)) return out;
    Files.createDirectories(out);
    Path chat = fixtures.resolve("models/chat");
    Files.copy(chat.resolve("cpm-bee.json"), out.resolve("cpm-bee.json"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(fixtures.resolve("vocab/bee.txt"), out.resolve("bee.txt"), StandardCopyOption.REPLACE_EXISTING);
    String beit = Files.readString(chat.resolve("beit3.json"))
        .replaceAll("\"encoder_embed_dim\": *\\d+", "\"encoder_embed_dim\": " + DIM)
        .replaceAll("\"encoder_attention_heads\": *\\d+", "\"encoder_attention_heads\": " + HEADS)
        .replaceAll("\"encoder_ffn_embed_dim\": *\\d+", "\"encoder_ffn_embed_dim\": " + FFN)
        .replaceAll("\"encoder_layers\": *\\d+", "\"encoder_layers\": " + LAYERS);
    Files.writeString(out.resolve("beit3.json"), beit);

    Map<String, long[]> shapes = new LinkedHashMap<>();
    Map<String, float[]> copied = new LinkedHashMap<>();
    String layerPrefix = "vpm.beit3.encoder.layers.";
    try (Checkpoint ckpt = Checkpoint.open(chat.resolve("viscpm_chat.pt"))) {
      for (TensorInfo t : ckpt.tensors()) {
        String name = t.name();
        if (name.startsWith("llm.")) {
          long n = 1;
          for (long s : t.shape()) n *= s;
          FloatBuffer buf = ByteBuffer.allocateDirect(Math.toIntExact(n * 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
          ckpt.readFloat(name, buf);
          float[] v = new float[(int) n];
          buf.rewind();
          buf.get(v);
          shapes.put(name, t.shape());
          copied.put(name, v);
          continue;
        }
        boolean inLayer = name.startsWith(layerPrefix);
        long[] shape = t.shape().clone();
        for (int d = 0; d < shape.length; d++) {
          if (shape[d] == 32) shape[d] = DIM;
          else if (inLayer && shape[d] == 64) shape[d] = FFN;
        }
        if (!inLayer) {
          shapes.put(name, shape);
        } else if (name.startsWith(layerPrefix + "0.")) {
          String rest = name.substring((layerPrefix + "0.").length());
          for (int i = 0; i < LAYERS; i++) shapes.put(layerPrefix + i + "." + rest, shape);
        }
      }
    }
    Path tmp = out.resolve("viscpm_chat.safetensors.part");
    MidChatModel.writeSafetensors(tmp, shapes, copied::get);
    Files.move(tmp, out.resolve("viscpm_chat.safetensors"), StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(done, "ok\n");
    return out;
  }
}
