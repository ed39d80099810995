package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import ai.viscpm.testkit.DemoModels;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.images.ImageGenerateParams;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** viscpm serve as the official OpenAI Java client (com.openai:openai-java) sees it. */
class OpenAiClientIT {
  private static ChatModel chat;
  private static PaintModel paint;
  private static VisCpmServer server;
  private static OpenAIClient client;
  private static byte[] png;

  @BeforeAll
  static void start() throws Exception {
    Path dir = Files.createTempDirectory("viscpm-openai-it");
    DemoModels.writeChatModel(dir.resolve("chat"));
    DemoModels.writePaintModel(dir.resolve("paint"));
    chat = ChatModel.load(dir.resolve("chat"));
    paint = PaintModel.load(dir.resolve("paint"));
    server = VisCpmServer.start(chat, paint, ServerOptions.defaults().withPort(0).withApiKey("test-key"), null);
    client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey("test-key").build();
    png = Files.readAllBytes(Fixtures.resolve("cases/chat_beam_search/image.png"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (client != null) client.close();
    if (server != null) server.close();
    if (chat != null) chat.close();
    if (paint != null) paint.close();
  }

  static ChatCompletionCreateParams params(String question) {
    return ChatCompletionCreateParams.builder()
        .model("viscpm-chat")
        .maxTokens(12)
        .addUserMessageOfArrayOfContentParts(List.of(
            ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder().text(question).build()),
            ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                    .url("data:image/png;base64," + Base64.getEncoder().encodeToString(png)).build())
                .build())))
        .build();
  }

  @Test
  void chatStreamedAndNotEqualsTheJavaApi() throws Exception {
    String expected;
    try (ChatSession s = chat.newSession(png)) {
      expected = s.ask("What is in the picture?", GenerationConfig.builder().maxTokens(12).build(), null).text();
    }
    ChatCompletion completion = client.chat().completions().create(params("What is in the picture?"));
    assertEquals(expected, completion.choices().get(0).message().content().orElse(""));
    assertTrue(completion.usage().isPresent());

    StringBuilder streamed = new StringBuilder();
    try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params("What is in the picture?"))) {
      stream.stream().forEach(chunk -> chunk.choices().forEach(c -> c.delta().content().ifPresent(streamed::append)));
    }
    assertEquals(expected, streamed.toString());
  }

  @Test
  void imagesComeBackAsPngsOfTheAskedSize() throws Exception {
    var response = client.images().generate(ImageGenerateParams.builder().model("viscpm-paint").prompt("一只猫").n(1)
        .size("64x64").responseFormat(ImageGenerateParams.ResponseFormat.B64_JSON).build());
    String b64 = response.data().orElseThrow().get(0).b64Json().orElseThrow();
    BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
    assertEquals(64, img.getWidth());
    assertEquals(64, img.getHeight());
  }

  @Test
  void errorsReachTheClientAsItsTypedExceptions() {
    BadRequestException e = org.junit.jupiter.api.Assertions.assertThrows(BadRequestException.class,
        () -> client.chat().completions().create(ChatCompletionCreateParams.builder().model("viscpm-chat")
            .addUserMessage("no picture here").build()));
    assertTrue(e.getMessage().contains("image"), e.getMessage());
  }
}
