package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.Checkpoint;
import ai.viscpm.ErrorCode;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import ai.viscpm.testkit.DemoModels;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint truncated or rewritten in place (a plain {@code cp new.pt model.pt}) while it is
 * open gives a typed exception, never a signal that takes the JVM down; loaded models own their
 * weights and keep answering.
 */
class ChangedOnDiskIT {
  @TempDir Path dir;

  static void truncate(Path file, long size) throws Exception {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(size);
    }
  }

  @Test
  void checkpointTruncatedWhileOpenIsAnIoError() throws Exception {
    Path file = dir.resolve("chat.pt");
    Files.copy(Fixtures.resolve("models/chat/viscpm_chat.pt"), file);
    try (Checkpoint ckpt = Checkpoint.open(file)) {
      TensorInfo last = ckpt.tensors().get(ckpt.tensors().size() - 1);
      FloatBuffer buf = ByteBuffer.allocateDirect((int) last.numel() * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
      truncate(file, Files.size(file) / 3);
      VisCpmException e = assertThrows(VisCpmException.class, () -> ckpt.readFloat(last.name(), buf));
      assertEquals(ErrorCode.IO_ERROR, e.code());
      assertTrue(e.getMessage().contains("changed on disk while open"), e.getMessage());
      // The handle stays usable for what no longer needs the file.
      assertEquals(last.name(), ckpt.tensors().get(ckpt.tensors().size() - 1).name());
    }
  }

  @Test
  void chatModelKeepsAnsweringAfterItsCheckpointIsTruncated() throws Exception {
    Path model = dir.resolve("chat");
    DemoModels.writeChatModel(model);
    byte[] png = Files.readAllBytes(Fixtures.resolve("cases/chat_beam_search/image.png"));
    GenerationConfig config = GenerationConfig.builder().maxLength(8).build();
    try (ChatModel chat = ChatModel.load(model)) {
      String before;
      try (ChatSession s = chat.newSession(png)) {
        before = s.ask("What is in the picture?", config, null).text();
      }
      truncate(model.resolve("viscpm_chat.pt"), 100);
      try (ChatSession s = chat.newSession(png)) {
        assertEquals(before, s.ask("What is in the picture?", config, null).text());
      }
    }
  }

  @Test
  void paintModelKeepsPaintingAfterItsCheckpointIsTruncated() throws Exception {
    Path model = dir.resolve("paint");
    DemoModels.writePaintModel(model);
    PaintRequest request = PaintRequest.builder("橘猫").size(64, 64).steps(2).seed(7).build();
    try (PaintModel paint = PaintModel.load(model)) {
      byte[] before = pixels(paint.generate(request));
      truncate(model.resolve("viscpm_paint.pt"), 100);
      truncate(model.resolve("stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors"), 8);
      assertArrayEquals(before, pixels(paint.generate(request)));
    }
  }

  static byte[] pixels(PaintResult r) {
    ByteBuffer rgb = r.rgb(0);
    byte[] out = new byte[rgb.remaining()];
    rgb.get(out);
    return out;
  }
}
