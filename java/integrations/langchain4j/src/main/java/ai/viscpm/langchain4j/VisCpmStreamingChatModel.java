package ai.viscpm.langchain4j;

import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;

/**
 * LangChain4j's {@link StreamingChatModel} over VisCPM-Chat: the answer reaches
 * {@code onPartialResponse} as it becomes final (the concatenated pieces equal the complete
 * response), then {@code onCompleteResponse}; failures go to {@code onError}. Runs on the
 * calling thread.
 */
public final class VisCpmStreamingChatModel implements StreamingChatModel {
  private final ChatModel model;

  public VisCpmStreamingChatModel(ChatModel model) {
    this.model = model;
  }

  @Override
  public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
    try {
      Conversation c = Conversation.of(request);
      try (ChatSession session = model.newSession(c.image())) {
        if (!c.history().isEmpty()) session.restoreHistory(c.history());
        ChatAnswer answer = session.ask(c.question(), c.config(), text -> {
          handler.onPartialResponse(text);
          return true;
        });
        handler.onCompleteResponse(VisCpmChatModel.response(answer));
      }
    } catch (Exception e) {
      handler.onError(e);
    }
  }
}
