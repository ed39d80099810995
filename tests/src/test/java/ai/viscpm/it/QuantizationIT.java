package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.CancelledException;
import ai.viscpm.DType;
import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.Quantization;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.cli.Main;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import ai.viscpm.testkit.DemoModels;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** int8 weights: DType.INT8 at load, Quantization.quantize, and `viscpm quantize` on the demo models. */
class QuantizationIT {
  private static ChatAnswer answer(ChatModel model, Path image) throws Exception {
    try (ChatSession session = model.newSession(image)) {
      return session.ask("图片里有什么？", GenerationConfig.builder().maxTokens(6).build(), null);
    }
  }

  @Test
  void aQuantizedDirectoryAnswersAsInt8AtLoadDoes(@TempDir Path dir) throws Exception {
    Path chat = dir.resolve("chat");
    Files.createDirectories(chat);
    DemoModels.writeChatModel(chat);
    Path image = Fixtures.resolve("cases/chat_beam_search/image.png");

    int[] calls = {0};
    Quantization.Result result = Quantization.quantize(chat, dir.resolve("chat-int8"), DType.INT8, (done, total) -> {
      calls[0]++;
      assertTrue(done <= total);
      return true;
    });
    assertTrue(calls[0] > 0);
    assertTrue(result.bytesAfter() < result.bytesBefore(), result.toString());
    assertTrue(Files.exists(dir.resolve("chat-int8/viscpm_chat.int8.safetensors")));
    assertFalse(Files.exists(dir.resolve("chat-int8/viscpm_chat.pt")));

    ChatAnswer quantized;
    try (ChatModel model = ChatModel.load(dir.resolve("chat-int8"))) {  // AUTO follows the checkpoint
      quantized = answer(model, image);
    }
    try (ChatModel model = ChatModel.load(chat, ModelOptions.builder().dtype(DType.INT8).build())) {
      assertArrayEquals(quantized.tokenIds(), answer(model, image).tokenIds());
    }
    FormatException refused = assertThrows(FormatException.class,
        () -> ChatModel.load(dir.resolve("chat-int8"), ModelOptions.builder().dtype(DType.FLOAT32).build()));
    assertTrue(refused.getMessage().contains("viscpm quantize"), refused.getMessage());

    // Into a directory that holds files, or to a float target: refused, nothing written.
    assertThrows(InvalidInputException.class, () -> Quantization.quantize(chat, dir.resolve("chat-int8"), DType.INT8));
    assertThrows(InvalidInputException.class, () -> Quantization.quantize(chat, dir.resolve("x"), DType.BFLOAT16));
    assertThrows(FormatException.class, () -> Quantization.quantize(dir.resolve("chat-int8"), dir.resolve("y"), DType.INT8));
    assertThrows(CancelledException.class,
        () -> Quantization.quantize(chat, dir.resolve("cancelled"), DType.INT8, (done, total) -> done < 2));
    assertFalse(Files.exists(dir.resolve("cancelled/viscpm_chat.int8.safetensors")));
  }

  @Test
  void paintLoadsInt8AndTheCliQuantizes(@TempDir Path dir) throws Exception {
    Path paint = dir.resolve("paint");
    Files.createDirectories(paint);
    DemoModels.writePaintModel(paint);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status = Main.run(new PrintWriter(out), new PrintWriter(err),
        "quantize", "--model", paint.toString(), "--out", dir.resolve("paint-int8").toString(), "--to", "int8");
    assertEquals(0, status, err.toString());
    assertTrue(out.toString().contains("smaller"), out.toString());
    assertTrue(err.toString().contains("100%"), err.toString());

    PaintRequest request = PaintRequest.builder("橘猫").steps(2).seed(7).build();
    PaintResult fromQuantized;
    try (PaintModel model = PaintModel.load(dir.resolve("paint-int8"))) {
      fromQuantized = model.generate(request);
    }
    try (PaintModel model = PaintModel.load(paint, null, null, ModelOptions.builder().dtype(DType.INT8).build())) {
      PaintResult atLoad = model.generate(request);
      assertEquals(fromQuantized.rgb(0), atLoad.rgb(0));  // same weights, same bytes
    }

    StringWriter err2 = new StringWriter();
    int bad = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err2),
        "quantize", "--model", paint.toString(), "--out", dir.resolve("paint-int8").toString());
    assertEquals(2, bad, err2.toString());
    assertTrue(err2.toString().startsWith("error (INVALID_ARGUMENT)"), err2.toString());
  }
}
