package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.langchain4j.VisCpmChatModel;
import ai.viscpm.langchain4j.VisCpmImageModel;
import ai.viscpm.langchain4j.VisCpmStreamingChatModel;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import ai.viscpm.testkit.DemoModels;
import dev.langchain4j.data.image.Image;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.output.FinishReason;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The LangChain4j provider through LangChain4j's own API, and LangChain4j's OpenAI model against viscpm serve. */
class LangChain4jIT {
  private static final String QUESTION = "What is in the picture?";
  private static ChatModel chat;
  private static PaintModel paint;
  private static byte[] png;
  private static String expected;

  @BeforeAll
  static void load() throws Exception {
    Path dir = Files.createTempDirectory("viscpm-langchain4j-it");
    DemoModels.writeChatModel(dir.resolve("chat"));
    DemoModels.writePaintModel(dir.resolve("paint"));
    chat = ChatModel.load(dir.resolve("chat"));
    paint = PaintModel.load(dir.resolve("paint"));
    png = Files.readAllBytes(Fixtures.resolve("cases/chat_beam_search/image.png"));
    try (ChatSession s = chat.newSession(png)) {
      expected = s.ask(QUESTION, GenerationConfig.builder().maxTokens(12).build(), null).text();
    }
  }

  @AfterAll
  static void close() throws Exception {
    if (chat != null) chat.close();
    if (paint != null) paint.close();
  }

  static UserMessage question() {
    return UserMessage.from(TextContent.from(QUESTION),
        new ImageContent(Base64.getEncoder().encodeToString(png), "image/png"));
  }

  static ChatRequest request() {
    return ChatRequest.builder().messages(SystemMessage.from("You are helpful."), question()).maxOutputTokens(12).build();
  }

  @Test
  void chatModelAnswersAsTheJavaApi() {
    ChatResponse r = new VisCpmChatModel(chat).chat(request());
    assertEquals(expected, r.aiMessage().text());
    assertTrue(r.tokenUsage().inputTokenCount() > 0);
    assertTrue(r.finishReason() == FinishReason.STOP || r.finishReason() == FinishReason.LENGTH);
  }

  @Test
  void multiTurnThroughMessages() throws Exception {
    String first, second;
    GenerationConfig c = GenerationConfig.builder().maxTokens(12).build();
    try (ChatSession s = chat.newSession(png)) {
      first = s.ask(QUESTION, c, null).text();
      second = s.ask("And the colours?", c, null).text();
    }
    ChatResponse r = new VisCpmChatModel(chat).chat(ChatRequest.builder()
        .messages(question(), AiMessage.from(first), UserMessage.from("And the colours?")).maxOutputTokens(12).build());
    assertEquals(second, r.aiMessage().text());
  }

  @Test
  void streamingPiecesAddUpToTheCompleteResponse() throws Exception {
    StringBuilder pieces = new StringBuilder();
    CompletableFuture<ChatResponse> done = new CompletableFuture<>();
    new VisCpmStreamingChatModel(chat).chat(request(), new StreamingChatResponseHandler() {
      @Override
      public void onPartialResponse(String text) {
        pieces.append(text);
      }

      @Override
      public void onCompleteResponse(ChatResponse response) {
        done.complete(response);
      }

      @Override
      public void onError(Throwable error) {
        done.completeExceptionally(error);
      }
    });
    assertEquals(expected, done.get().aiMessage().text());
    assertEquals(expected, pieces.toString());
  }

  @Test
  void aRequestWithoutAnImageIsAClearError() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new VisCpmChatModel(chat).chat(ChatRequest.builder().messages(UserMessage.from("hello")).build()));
    assertTrue(e.getMessage().contains("image"), e.getMessage());
  }

  @Test
  void imageModelPaintsPngs() throws Exception {
    var model = new VisCpmImageModel(paint, b -> b.size(64, 64).steps(3).seed(7));
    var images = model.generate("一只猫", 2).content();
    assertEquals(2, images.size());
    for (Image image : images) {
      assertEquals("image/png", image.mimeType());
      BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(image.base64Data())));
      assertEquals(64, img.getWidth());
    }
  }

  @Test
  void langchain4jOpenAiModelTalksToViscpmServe() throws Exception {
    try (VisCpmServer server = VisCpmServer.start(chat, null, ServerOptions.defaults().withPort(0), null)) {
      OpenAiChatModel client = OpenAiChatModel.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1")
          .apiKey("unused").modelName("viscpm-chat").maxTokens(12).build();
      ChatResponse r = client.chat(ChatRequest.builder().messages(question()).build());
      assertEquals(expected, r.aiMessage().text());
    }
  }
}
