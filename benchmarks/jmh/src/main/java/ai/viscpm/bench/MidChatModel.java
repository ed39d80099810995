package ai.viscpm.bench;

import ai.viscpm.Checkpoint;
import ai.viscpm.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The mid-size VisCPM-Chat model of the benchmarks, written once in the real format: a
 * safetensors checkpoint ({@code llm.*}: CPM-Bee dim 1024, 12 layers, 16 heads of 64, ff 2560,
 * the real 86583-entry vocabulary; {@code mapping.*} to 1024; {@code vpm.*} and {@code query}
 * copied from the fixture chat model, so BEiT-3 stays the fixture's tiny one) with random
 * weights, {@code cpm-bee.json}, the fixture's {@code beit3.json} and {@code bee.txt}. Both
 * engines load this directory: the native one through {@code ChatModel.load(dir)}, the JVM one
 * through {@code JvmChatModel.load}. No Java-side writer of the torch zip format exists, hence
 * safetensors (which the C API's checkpoint reader reads as well).
 *
 * <p>{@code java -cp ... ai.viscpm.bench.MidChatModel FIXTURES OUT_DIR} (run.sh does it once).
 */
public final class MidChatModel {
  public static final int VOCAB = 86583, DIM = 1024, FF = 2560, LAYERS = 12, HEADS = 16, DIM_HEAD = 64, BUCKETS = 256;

  private MidChatModel() {}

  public static void main(String[] args) throws Exception {
    Path fixtures = Path.of(args[0]);
    Path out = Path.of(args[1]);
    ensure(fixtures, out);
  }

  /** Writes the directory unless it is complete already; returns it. */
  public static Path ensure(Path fixtures, Path out) throws Exception {
    Path done = out.resolve(".complete");
    if (Files.exists(done)) return out;
    Files.createDirectories(out);
    Path chat = fixtures.resolve("models/chat");
    Files.copy(chat.resolve("beit3.json"), out.resolve("beit3.json"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(fixtures.resolve("vocab/bee.txt"), out.resolve("bee.txt"), StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(out.resolve("cpm-bee.json"), "{\n \"vocab_size\": " + VOCAB + ",\n \"dim_model\": " + DIM
        + ",\n \"dim_ff\": " + FF + ",\n \"num_layers\": " + LAYERS + ",\n \"num_heads\": " + HEADS
        + ",\n \"dim_head\": " + DIM_HEAD + ",\n \"dropout_p\": 0.0,\n \"position_bias_num_buckets\": " + BUCKETS
        + ",\n \"position_bias_num_segment_buckets\": " + BUCKETS
        + ",\n \"position_bias_max_distance\": 2048,\n \"eps\": 1e-06,\n \"half\": false\n}\n");

    Map<String, long[]> shapes = new LinkedHashMap<>();
    Map<String, float[]> copied = new LinkedHashMap<>();
    long visionDim;
    try (Checkpoint ckpt = Checkpoint.open(chat.resolve("viscpm_chat.pt"))) {
      long vd = -1;
      for (TensorInfo t : ckpt.tensors()) {
        if (t.name().startsWith("vpm.") || t.name().equals("query")) {
          long n = 1;
          for (long s : t.shape()) n *= s;
          FloatBuffer buf = ByteBuffer.allocateDirect(Math.toIntExact(n * 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
          ckpt.readFloat(t.name(), buf);
          float[] v = new float[(int) n];
          buf.rewind();
          buf.get(v);
          shapes.put(t.name(), t.shape());
          copied.put(t.name(), v);
        }
        if (t.name().equals("mapping.0.weight")) vd = t.shape()[1];
      }
      visionDim = vd;
    }
    int inner = HEADS * DIM_HEAD;
    shapes.put("llm.input_embedding.weight", new long[] {VOCAB, DIM});
    shapes.put("llm.position_bias.relative_attention_bias", new long[] {2L * BUCKETS, HEADS});
    shapes.put("llm.encoder.output_layernorm.weight", new long[] {DIM});
    for (int i = 0; i < LAYERS; i++) {
      String p = "llm.encoder.layers." + i + ".";
      shapes.put(p + "self_att.layernorm_before_attention.weight", new long[] {DIM});
      for (String q : new String[] {"q", "k", "v"}) {
        shapes.put(p + "self_att.self_attention.project_" + q + ".weight", new long[] {inner, DIM});
      }
      shapes.put(p + "self_att.self_attention.attention_out.weight", new long[] {DIM, inner});
      shapes.put(p + "ffn.layernorm_before_ffn.weight", new long[] {DIM});
      shapes.put(p + "ffn.ffn.w_in.w_0.weight", new long[] {FF, DIM});
      shapes.put(p + "ffn.ffn.w_in.w_1.weight", new long[] {FF, DIM});
      shapes.put(p + "ffn.ffn.w_out.weight", new long[] {DIM, FF});
    }
    shapes.put("mapping.0.weight", new long[] {DIM, visionDim});
    shapes.put("mapping.0.bias", new long[] {DIM});
    shapes.put("mapping.2.weight", new long[] {DIM, DIM});
    shapes.put("mapping.2.bias", new long[] {DIM});

    Path tmp = out.resolve("viscpm_chat.safetensors.part");
    writeSafetensors(tmp, shapes, name -> copied.get(name));
    Files.move(tmp, out.resolve("viscpm_chat.safetensors"), StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(done, "ok\n");
    return out;
  }

  interface Source {
    float[] valuesOf(String name);  // null: random
  }

  /** safetensors: u64 LE header length, the JSON header, then the raw little-endian data. */
  static void writeSafetensors(Path file, Map<String, long[]> shapes, Source source) throws IOException {
    StringBuilder header = new StringBuilder("{");
    long offset = 0;
    List<String> names = new ArrayList<>(shapes.keySet());
    for (int k = 0; k < names.size(); k++) {
      long[] shape = shapes.get(names.get(k));
      long n = 1;
      StringBuilder dims = new StringBuilder();
      for (int d = 0; d < shape.length; d++) {
        n *= shape[d];
        dims.append(d == 0 ? "" : ",").append(shape[d]);
      }
      if (k > 0) header.append(',');
      header.append('"').append(names.get(k)).append("\":{\"dtype\":\"F32\",\"shape\":[").append(dims)
          .append("],\"data_offsets\":[").append(offset).append(',').append(offset + n * 4).append("]}");
      offset += n * 4;
    }
    header.append('}');
    while ((header.length() + 8) % 8 != 0) header.append(' ');
    byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
      len.flip();
      ch.write(len);
      ch.write(ByteBuffer.wrap(h));
      ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
      SplittableRandom rng = new SplittableRandom(13);
      for (String name : names) {
        long[] shape = shapes.get(name);
        long n = 1;
        for (long s : shape) n *= s;
        float[] given = source.valuesOf(name);
        boolean norm = name.endsWith("layernorm.weight") || name.endsWith("layernorm_before_attention.weight")
            || name.endsWith("layernorm_before_ffn.weight");
        // Uniform in [-a, a) with std 1/sqrt(fan_in) for matrices (a = sqrt(3/fan_in)); norms 1.
        long fanIn = shape.length > 1 ? shape[shape.length - 1] : 1;
        float a = (float) Math.sqrt(3.0 / Math.max(1, fanIn));
        if (name.equals("llm.input_embedding.weight")) a = (float) Math.sqrt(3.0) * 0.02f;
        if (name.endsWith(".bias") || name.contains("relative_attention_bias")) a = 0.05f;
        for (long i = 0; i < n; i++) {
          float v;
          if (given != null) v = given[(int) i];
          else if (norm) v = 1f;
          else v = a * ((rng.nextInt() >> 8) * 0x1.0p-23f);
          chunk.putFloat(v);
          if (!chunk.hasRemaining()) {
            chunk.flip();
            while (chunk.hasRemaining()) ch.write(chunk);
            chunk.clear();
          }
        }
      }
      chunk.flip();
      while (chunk.hasRemaining()) ch.write(chunk);
    }
  }
}
