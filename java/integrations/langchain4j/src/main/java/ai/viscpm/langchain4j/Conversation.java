package ai.viscpm.langchain4j;

import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import dev.langchain4j.data.image.Image;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * A LangChain4j chat request as VisCPM-Chat sees it: the image of the first user message,
 * the earlier exchanges, the question, the generation settings. System messages are not part
 * of VisCPM's prompt format and are skipped.
 */
record Conversation(byte[] image, List<ChatSession.Exchange> history, String question, GenerationConfig config) {

  static Conversation of(ChatRequest request) {
    byte[] image = null;
    List<ChatSession.Exchange> history = new ArrayList<>();
    String pending = null;
    boolean first = true;
    for (ChatMessage m : request.messages()) {
      if (m instanceof SystemMessage) continue;
      if (m instanceof UserMessage user) {
        if (pending != null) throw new IllegalArgumentException("two user messages in a row: an AI message must answer the first");
        StringBuilder text = new StringBuilder();
        for (Content c : user.contents()) {
          if (c instanceof TextContent t) {
            text.append(t.text());
          } else if (c instanceof ImageContent ic) {
            if (!first || image != null)
              throw new IllegalArgumentException("VisCPM-Chat talks about one image per conversation: put it in the first user message");
            image = bytes(ic.image());
          } else {
            throw new IllegalArgumentException("unsupported content " + c.type() + " (VisCPM-Chat takes text and one image)");
          }
        }
        pending = text.toString();
        first = false;
      } else if (m instanceof AiMessage ai) {
        if (pending == null) throw new IllegalArgumentException("an AI message must follow a user message");
        history.add(new ChatSession.Exchange(pending, ai.text() == null ? "" : ai.text()));
        pending = null;
      } else {
        throw new IllegalArgumentException("unsupported message type " + m.type() + " (no tools in VisCPM-Chat)");
      }
    }
    if (pending == null) throw new IllegalArgumentException("the last message must be the user's question");
    if (image == null) throw new IllegalArgumentException("VisCPM-Chat needs an image: add an ImageContent to the first user message");

    GenerationConfig.Builder config = GenerationConfig.builder();
    if (request.maxOutputTokens() != null) config.maxTokens(request.maxOutputTokens());  // a hard cap, as LangChain4j means it
    if (request.temperature() != null || request.topP() != null || request.topK() != null) {
      int topK = request.topK() == null ? 0 : request.topK();
      float topP = request.topP() == null ? 1f : request.topP().floatValue();
      config.sampling(topK, topP, System.nanoTime());
      if (request.temperature() != null) config.temperature(request.temperature().floatValue());
    }
    return new Conversation(image, history, pending, config.build());
  }

  /** Base64 data, a data: URL or a file: URL; the provider fetches nothing from the network. */
  static byte[] bytes(Image image) {
    if (image.base64Data() != null) return Base64.getDecoder().decode(image.base64Data());
    URI url = image.url();
    if (url == null) throw new IllegalArgumentException("the image has neither data nor a URL");
    String s = url.toString();
    if (s.startsWith("data:")) {
      try {
        return ai.viscpm.DataUrls.decode(s);
      } catch (ai.viscpm.InvalidInputException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    }
    if ("file".equals(url.getScheme())) {
      try {
        return Files.readAllBytes(Path.of(url));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    throw new IllegalArgumentException("images must come as base64 data, data: or file: URLs, got " + url.getScheme() + ":");
  }
}
