package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.viscpm.Checkpoint;
import ai.viscpm.FormatException;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged weight files must each raise {@link FormatException} through the whole stack
 * (Java -> JNI -> C++): never crash the JVM, never another exception type.
 */
class DamagedCheckpointIT {
  @TempDir Path dir;
  private final Random random = new Random(20261127L);
  private final List<String> outcomes = new ArrayList<>();

  private void expectFormatError(String label, byte[] bytes, String suffix) throws Exception {
    Path file = dir.resolve("damaged-" + outcomes.size() + suffix);
    Files.write(file, bytes);
    try (Checkpoint c = Checkpoint.open(file)) {
      // Some damage only shows when a tensor is read (bytes past a truncated end).
      FloatBuffer buf = ByteBuffer.allocateDirect(8 << 20).order(ByteOrder.nativeOrder()).asFloatBuffer();
      for (TensorInfo t : c.tensors()) {
        if (t.numel() * 4 > buf.capacity() * 4L) continue;
        buf.clear();
        c.readFloat(t.name(), buf);
      }
      outcomes.add(label + ": accepted");
      fail(label + ": a damaged file was accepted without error");
    } catch (FormatException expected) {
      outcomes.add(label + ": " + expected.getMessage());
      assertTrue(expected.getMessage().length() > 10, label + ": message too thin: " + expected.getMessage());
    } catch (VisCpmException other) {
      fail(label + ": expected FormatException, got " + other.getClass().getSimpleName() + ": " + other.getMessage());
    } finally {
      Files.deleteIfExists(file);
    }
  }

  private static int indexOf(byte[] hay, byte[] needle, int from) {
    outer:
    for (int i = from; i <= hay.length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
      return i;
    }
    return -1;
  }

  private static int lastIndexOf(byte[] hay, byte[] needle) {
    for (int i = hay.length - needle.length; i >= 0; i--) {
      boolean match = true;
      for (int j = 0; j < needle.length && match; j++) match = hay[i + j] == needle[j];
      if (match) return i;
    }
    return -1;
  }

  @Test
  void fiftyAndMoreDamagedCheckpointsAreFormatErrors() throws Exception {
    byte[] zip = Files.readAllBytes(Fixtures.resolve("models/chat/viscpm_chat.pt"));
    byte[] st = Files.readAllBytes(
        Fixtures.resolve("models/paint/stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors"));

    // 1. torch zip truncated at random offsets (incl. inside the central directory).
    for (int i = 0; i < 15; i++) {
      int cut = 1 + random.nextInt(zip.length - 2);
      expectFormatError("zip truncated at " + cut, java.util.Arrays.copyOf(zip, cut), ".pt");
    }
    // 2. flipped bytes anywhere in the pickle: the zip's CRC-32 of data.pkl no longer matches.
    Pickle pickle = Pickle.locate(zip);
    for (int i = 0; i < 8; i++) {
      byte[] bad = zip.clone();
      int at = pickle.start + random.nextInt(pickle.length);
      bad[at] ^= (byte) (1 + random.nextInt(255));
      expectFormatError("pickle byte " + at + " flipped", bad, ".pt");
    }
    // 3. semantic damage inside a pickle whose CRC is made valid again: the parser itself must object.
    expectFormatError("unknown global", pickle.edit(zip, "torch._utils\n_rebuild_tensor_v2\n", "torch._utils\n_rebuild_tensor_v9\n"), ".pt");
    expectFormatError("os.system global", pickle.edit(zip, "torch._utils\n_rebuild_tensor_v2\n", "os\nsystem\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"), ".pt");
    expectFormatError("storage type renamed", pickle.edit(zip, "FloatStorage", "QloatStorage"), ".pt");
    expectFormatError("collections global renamed", pickle.edit(zip, "collections\nOrderedDict", "subprocess\nOrderedDicts"), ".pt");
    // (the stored location is not checked: the reference loads with map_location="cpu" and ignores it)
    expectFormatError("view larger than its storage", pickle.edit(zip, "QK\u0000K@K ", "QK\u0000KAK "), ".pt");
    expectFormatError("storage offset past the end", pickle.edit(zip, "QK\u0000K@K ", "QK\u0001K@K "), ".pt");
    expectFormatError("STOP opcode removed", pickle.editLast(zip, (byte) '.', (byte) 'N'), ".pt");
    expectFormatError("storage key points nowhere", pickle.edit(zip, "X\u0001\u0000\u0000\u00000", "X\u0001\u0000\u0000\u0000z"), ".pt");
    // absurd declared sizes: the first storage numel (after 'cpu') made far larger than its record.
    expectFormatError("storage numel absurd", pickle.absurdNumel(zip), ".pt");
    // 4. the zip central directory and its end record: every field a reader depends on.
    int central = lastIndexOf(zip, new byte[] {0x50, 0x4b, 0x01, 0x02});
    int end = lastIndexOf(zip, new byte[] {0x50, 0x4b, 0x05, 0x06});
    assertTrue(central > 0 && end > central, "fixture zip has no central directory");
    int firstCentral = indexOf(zip, new byte[] {0x50, 0x4b, 0x01, 0x02}, 0);
    int[] fields = {0, 1, 2, 3, 10, 20, 21, 22, 24, 25, 28, 42, 43, 44};
    for (int field : fields) {
      byte[] bad = zip.clone();
      bad[firstCentral + field] ^= (byte) 0xa5;
      expectFormatError("central directory field +" + field, bad, ".pt");
    }
    for (int offset : new int[] {0, 10, 12, 16, 20}) {  // signature, entry count, directory size/offset, comment
      byte[] bad = zip.clone();
      bad[end + offset] ^= (byte) 0x5a;
      bad[end + offset + 1] ^= (byte) 0x7f;
      expectFormatError("end record field +" + offset, bad, ".pt");
    }
    // 5. local headers that disagree with the directory.
    int local = indexOf(zip, new byte[] {0x50, 0x4b, 0x03, 0x04}, 0);
    byte[] badLocal = zip.clone();
    badLocal[local] = 'X';
    expectFormatError("local header signature", badLocal, ".pt");

    // 6. safetensors: truncations, header length, dtype strings, overlapping offsets.
    long headerLen = ByteBuffer.wrap(st, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    String header = new String(st, 8, (int) headerLen, StandardCharsets.UTF_8);
    for (int i = 0; i < 6; i++) {
      int cut = 1 + random.nextInt(st.length - 2);
      expectFormatError("safetensors truncated at " + cut, java.util.Arrays.copyOf(st, cut), ".safetensors");
    }
    for (long len : new long[] {0, 7, headerLen + 1, st.length, Long.MAX_VALUE, -1}) {
      byte[] bad = st.clone();
      ByteBuffer.wrap(bad, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(len);
      expectFormatError("safetensors header length " + len, bad, ".safetensors");
    }
    expectFormatError("safetensors dtype F33", withHeader(st, headerLen, header.replaceFirst("\"F32\"", "\"F33\"")),
        ".safetensors");
    expectFormatError("safetensors dtype lower-case",
        withHeader(st, headerLen, header.replaceFirst("\"F32\"", "\"f32\"")), ".safetensors");
    expectFormatError("safetensors overlapping offsets",
        withHeader(st, headerLen, header.replaceFirst("\"data_offsets\":\\[(\\d+),(\\d+)\\]", "\"data_offsets\":[0,$2]")
            .replaceFirst("(\"data_offsets\":\\[0,\\d+\\].*?\"data_offsets\":\\[)(\\d+)", "$10")),
        ".safetensors");
    expectFormatError("safetensors offsets past the end",
        withHeader(st, headerLen, header.replaceFirst("\"data_offsets\":\\[(\\d+),(\\d+)\\]", "\"data_offsets\":[$1,999999999]")),
        ".safetensors");
    expectFormatError("safetensors shape/offset mismatch",
        withHeader(st, headerLen, header.replaceFirst("\"shape\":\\[(\\d+)", "\"shape\":[7$1")), ".safetensors");
    expectFormatError("safetensors header not JSON", withHeader(st, headerLen, "{" + header.substring(2)), ".safetensors");

    System.out.println(String.join(System.lineSeparator(), outcomes));
    assertTrue(outcomes.size() >= 50, "only " + outcomes.size() + " damaged files were tried");
    assertEquals(outcomes.size(), outcomes.stream().filter(o -> !o.endsWith("accepted")).count());
  }

  /** The data.pkl record of a torch zip, so that edits can keep its CRC-32 valid. */
  private record Pickle(int headerAt, int start, int length, int centralAt) {
    static Pickle locate(byte[] zip) {
      ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
      for (int at = indexOf(zip, new byte[] {0x50, 0x4b, 0x01, 0x02}, 0); at >= 0;
          at = indexOf(zip, new byte[] {0x50, 0x4b, 0x01, 0x02}, at + 4)) {
        int nameLen = b.getShort(at + 28) & 0xffff;
        String name = new String(zip, at + 46, nameLen, StandardCharsets.UTF_8);
        if (name.endsWith("/data.pkl")) {
          int local = b.getInt(at + 42);
          int start = local + 30 + (b.getShort(local + 26) & 0xffff) + (b.getShort(local + 28) & 0xffff);
          return new Pickle(local, start, b.getInt(at + 20), at);
        }
      }
      throw new IllegalStateException("no data.pkl record");
    }

    /** Recomputes the CRC-32 in the central directory, the local header and a data descriptor. */
    byte[] fixCrc(byte[] zip) {
      java.util.zip.CRC32 crc = new java.util.zip.CRC32();
      crc.update(zip, start, length);
      ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
      int value = (int) crc.getValue();
      b.putInt(centralAt + 16, value);
      if ((b.getShort(headerAt + 6) & 0x8) != 0) {
        int descriptor = start + length;
        b.putInt(b.getInt(descriptor) == 0x08074b50 ? descriptor + 4 : descriptor, value);
      } else {
        b.putInt(headerAt + 14, value);
      }
      return zip;
    }

    byte[] edit(byte[] zip, String from, String to) {
      byte[] f = from.getBytes(StandardCharsets.ISO_8859_1);
      byte[] t = to.getBytes(StandardCharsets.ISO_8859_1);
      if (f.length != t.length) throw new IllegalArgumentException("edits keep the length");
      byte[] out = zip.clone();
      int at = indexOf(out, f, start);
      if (at < 0 || at + f.length > start + length) throw new IllegalStateException("pattern not in pickle: " + from);
      System.arraycopy(t, 0, out, at, t.length);
      return fixCrc(out);
    }

    byte[] editLast(byte[] zip, byte from, byte to) {
      byte[] out = zip.clone();
      if (out[start + length - 1] != from) throw new IllegalStateException("pickle does not end with STOP");
      out[start + length - 1] = to;
      return fixCrc(out);
    }

    byte[] absurdNumel(byte[] zip) {
      byte[] out = zip.clone();
      int at = indexOf(out, "cpu".getBytes(StandardCharsets.US_ASCII), start) + 3;
      if (out[at] == 'q') at += 2;  // BINPUT of the location string
      else if (out[at] == 'r') at += 5;  // LONG_BINPUT
      switch (out[at]) {
        case 'K' -> out[at + 1] = (byte) 0xff;  // BININT1: 255 elements
        case 'M' -> { out[at + 1] = (byte) 0xff; out[at + 2] = (byte) 0xff; }  // BININT2: 65535
        case 'J' -> { out[at + 1] = (byte) 0xff; out[at + 2] = (byte) 0xff; out[at + 3] = (byte) 0xff; out[at + 4] = (byte) 0x7f; }
        default -> throw new IllegalStateException("unexpected numel opcode " + out[at]);
      }
      return fixCrc(out);
    }
  }

  /** The same file with a replacement header of the same byte length (padded with spaces). */
  private static byte[] withHeader(byte[] st, long headerLen, String newHeader) {
    byte[] h = newHeader.getBytes(StandardCharsets.UTF_8);
    byte[] out = st.clone();
    for (int i = 0; i < headerLen; i++) out[8 + i] = i < h.length ? h[i] : (byte) ' ';
    if (h.length > headerLen) {
      // Longer header: grow the file and shift the data.
      byte[] grown = new byte[st.length + (h.length - (int) headerLen)];
      ByteBuffer.wrap(grown, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
      System.arraycopy(h, 0, grown, 8, h.length);
      System.arraycopy(st, 8 + (int) headerLen, grown, 8 + h.length, st.length - 8 - (int) headerLen);
      return grown;
    }
    return out;
  }
}
