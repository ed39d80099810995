package ai.viscpm.langchain4j;

import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;

/**
 * LangChain4j's {@link dev.langchain4j.model.chat.ChatModel} over an in-process VisCPM-Chat
 * model: every call opens a session on the request's image, restores the earlier exchanges
 * and asks the last question (beam search, the reference's decoder, unless temperature /
 * topP / topK ask for sampling). The VisCPM model stays owned by the caller.
 */
public final class VisCpmChatModel implements dev.langchain4j.model.chat.ChatModel {
  private final ChatModel model;

  public VisCpmChatModel(ChatModel model) {
    this.model = model;
  }

  @Override
  public ChatResponse doChat(ChatRequest request) {
    Conversation c = Conversation.of(request);
    try (ChatSession session = model.newSession(c.image())) {
      if (!c.history().isEmpty()) session.restoreHistory(c.history());
      return response(session.ask(c.question(), c.config(), null));
    } catch (VisCpmException e) {
      throw new RuntimeException(e.getMessage(), e);
    }
  }

  static ChatResponse response(ChatAnswer answer) {
    return ChatResponse.builder()
        .aiMessage(new AiMessage(answer.text()))
        .modelName("viscpm-chat")
        .tokenUsage(new TokenUsage(answer.promptTokens(), answer.tokenIds().length))
        .finishReason(answer.endedWithEos() ? FinishReason.STOP : FinishReason.LENGTH)
        .build();
  }
}
