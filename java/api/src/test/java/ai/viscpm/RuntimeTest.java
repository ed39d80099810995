package ai.viscpm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RuntimeTest {
  @Test
  void nativeLibraryRunsOnLibTorch210() {
    assertTrue(VisCpm.torchVersion().startsWith("2.10"), VisCpm.torchVersion());
    assertFalse(VisCpm.version().isEmpty());
  }

  @Test
  void threadsBelongToTheRuntimeAreClampedAndBadValuesAreTyped() throws Exception {
    int before = VisCpm.threads();
    assertEquals(1, VisCpm.setThreads(1));
    assertEquals(1, VisCpm.threads());
    // More than the machine has: clamped to its logical CPUs.
    assertEquals(VisCpm.hardwareThreads(), VisCpm.setThreads(VisCpm.hardwareThreads() + 7));
    // 0: LibTorch's default again.
    assertEquals(before, VisCpm.setThreads(0));
    InvalidInputException e = assertThrows(InvalidInputException.class, () -> VisCpm.setThreads(-3));
    assertTrue(e.getMessage().contains("-3"), e.getMessage());
    assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
  }

  @Test
  void aCountSetOnOneThreadReachesAThreadThatRanBefore() throws Exception {
    assumeTrue(VisCpm.hardwareThreads() >= 2, "needs 2 logical CPUs to tell two counts apart");
    int before = VisCpm.threads();  // this thread has now used LibTorch at the current count
    int other = before == 1 ? 2 : 1;
    try {
      Thread setter = new Thread(() -> {
        try {
          VisCpm.setThreads(other);
        } catch (VisCpmException e) {
          throw new IllegalStateException(e);
        }
      });
      setter.start();
      setter.join();
      // LibTorch alone would keep this thread at `before` (its count is read once per thread).
      assertEquals(other, VisCpm.threads());
      // And back from here, although this thread's own count already was `other`'s before.
      assertEquals(before, VisCpm.setThreads(before));
      int[] seenElsewhere = new int[1];
      Thread reader = new Thread(() -> seenElsewhere[0] = VisCpm.threads());
      reader.start();
      reader.join();
      assertEquals(before, seenElsewhere[0]);
    } finally {
      VisCpm.setThreads(0);
    }
  }

  @Test
  void directBufferCrossesWithoutCopy() throws Exception {
    ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
    long expectedSum = 0;
    for (int i = 0; i < buffer.capacity(); i++) {
      byte b = (byte) (i * 31 + 7);
      buffer.put(i, b);
      expectedSum += b & 0xff;
    }
    long javaAddress = new Pointer(buffer).address();
    BufferProbe probe = VisCpm.probe(buffer);
    assertEquals(javaAddress, probe.address(), "native side must see the Java buffer's own memory");
    assertEquals(expectedSum, probe.byteSum(), "LibTorch read the bytes in place");

    // A write after the probe is visible to the next native read: same memory, no snapshot.
    buffer.put(0, (byte) (buffer.get(0) + 1));
    assertEquals(expectedSum + 1, VisCpm.probe(buffer).byteSum());

    // A slice is seen at its own offset.
    ByteBuffer slice = buffer.position(4096).slice();
    buffer.position(0);
    assertEquals(javaAddress + 4096, VisCpm.probe(slice).address());
  }

  @Test
  void heapBuffersAreRefusedRatherThanCopied() {
    assertThrows(InvalidInputException.class, () -> VisCpm.probe(ByteBuffer.allocate(16)));
  }

  @Test
  void missingCheckpointIsNotFound(@TempDir Path dir) {
    ResourceNotFoundException e =
        assertThrows(ResourceNotFoundException.class, () -> Checkpoint.open(dir.resolve("absent.pt")));
    assertTrue(e.getMessage().contains("absent.pt"), e.getMessage());
  }

  @Test
  void garbageFileIsAFormatError(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("garbage.pt");
    Files.write(file, "this is not a checkpoint at all, just text".getBytes());
    FormatException e = assertThrows(FormatException.class, () -> Checkpoint.open(file));
    assertTrue(e.getMessage().contains("garbage.pt"), e.getMessage());
  }

  @Test
  void emptyFileIsAFormatError(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("empty.safetensors");
    Files.write(file, new byte[0]);
    assertThrows(FormatException.class, () -> Checkpoint.open(file));
  }

  @Test
  void cudaRequestIsRefusedClearlyWithoutADevice() throws Exception {
    if (VisCpm.cudaAvailable()) {
      VisCpm.requireDevice(Device.CUDA);
    } else {
      assertThrows(UnsupportedFeatureException.class, () -> VisCpm.requireDevice(Device.CUDA));
    }
  }
}
