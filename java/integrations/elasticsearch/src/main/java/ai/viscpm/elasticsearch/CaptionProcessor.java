package ai.viscpm.elasticsearch;

import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.elasticsearch.common.util.concurrent.AbstractRunnable;
import org.elasticsearch.ingest.AbstractProcessor;
import org.elasticsearch.ingest.ConfigurationUtils;
import org.elasticsearch.ingest.IngestDocument;
import org.elasticsearch.ingest.Processor;

/**
 * {@code viscpm_caption}: asks VisCPM-Chat a question about the image in {@code field} (base64
 * text or binary) and writes the answer to {@code target_field}. Asynchronous: the document
 * waits for a slot of the {@value VisCpmPlugin#THREAD_POOL} thread pool while the write thread
 * moves on.
 */
public final class CaptionProcessor extends AbstractProcessor {
  private static final Logger LOGGER = LogManager.getLogger(CaptionProcessor.class);
  public static final String TYPE = "viscpm_caption";
  static final String DEFAULT_TARGET_FIELD = "caption";
  static final String DEFAULT_QUESTION = "Describe the image in one short sentence.";
  static final int DEFAULT_MAX_TOKENS = 32;

  private final String field;
  private final String targetField;
  private final String question;
  private final GenerationConfig generation;
  private final boolean ignoreMissing;
  private final ChatModel model;
  private final Executor inferences;

  CaptionProcessor(String tag, String description, String field, String targetField, String question, int maxTokens,
      boolean ignoreMissing, ChatModel model, Executor inferences) {
    super(tag, description);
    this.field = field;
    this.targetField = targetField;
    this.question = question;
    // The released decoding (beam search), capped at max_tokens: what ChatSession.ask gives for the same settings.
    this.generation = GenerationConfig.builder().maxTokens(maxTokens).build();
    this.ignoreMissing = ignoreMissing;
    this.model = model;
    this.inferences = inferences;
  }

  @Override
  public boolean isAsync() {
    return true;
  }

  @Override
  public IngestDocument execute(IngestDocument document) {
    throw new UnsupportedOperationException(TYPE + " is asynchronous: the ingest service calls execute(document, handler)");
  }

  // The failures below carry the cause's message but not the cause: on_failure shows the root
  // cause's message, and ours says which field and what was expected.
  @Override
  public void execute(IngestDocument document, BiConsumer<IngestDocument, Exception> handler) {
    byte[] image;
    try {
      image = document.getFieldValueAsBytes(field, ignoreMissing);
    } catch (IllegalArgumentException e) {
      handler.accept(null, new IllegalArgumentException(
          TYPE + ": cannot read an image from field [" + field + "] (base64 text or binary expected): " + e.getMessage()));
      return;
    }
    if (image == null) {  // missing or null, and ignore_missing
      handler.accept(document, null);
      return;
    }
    inferences.execute(new AbstractRunnable() {
      @Override
      protected void doRun() {
        Exception failure = null;
        try {
          document.setFieldValue(targetField, caption(image));
        } catch (Exception e) {
          failure = e;
        }
        // Called once, outside the try: a failure in the rest of the pipeline must not come back here.
        if (failure == null) handler.accept(document, null);
        else handler.accept(null, failure);
      }

      @Override
      public void onRejection(Exception e) {  // the queue of viscpm_caption is full: a 429 for this document
        handler.accept(null, e);
      }

      @Override
      public void onFailure(Exception e) {  // only from the handler itself, which has had its answer already
        LOGGER.warn("viscpm_caption: the ingest pipeline failed after the caption was handed over", e);
      }
    });
  }

  private String caption(byte[] image) throws VisCpmException {
    ChatSession session;
    try {
      session = model.newSession(image);
    } catch (InvalidInputException | FormatException e) {
      throw new IllegalArgumentException(TYPE + ": field [" + field + "] does not hold an image VisCPM can decode "
          + "(PNG, JPEG, BMP or WebP, " + image.length + " bytes): " + e.getMessage());
    }
    try (session) {
      return session.ask(question, generation, null).text();
    }
  }

  @Override
  public String getType() {
    return TYPE;
  }

  String field() {
    return field;
  }

  String targetField() {
    return targetField;
  }

  String question() {
    return question;
  }

  GenerationConfig generation() {
    return generation;
  }

  boolean ignoreMissing() {
    return ignoreMissing;
  }

  /** Reads a processor's options; the model and the thread pool are the node's. */
  static final class Factory implements Processor.Factory {
    private final Supplier<NodeChatModel> nodeModel;
    private final Supplier<? extends Executor> inferences;
    private final int maxTokensLimit;

    Factory(Supplier<NodeChatModel> nodeModel, Supplier<? extends Executor> inferences, int maxTokensLimit) {
      this.nodeModel = nodeModel;
      this.inferences = inferences;
      this.maxTokensLimit = maxTokensLimit;
    }

    @Override
    public CaptionProcessor create(Map<String, Processor.Factory> registry, String tag, String description,
        Map<String, Object> config) {
      String field = ConfigurationUtils.readStringProperty(TYPE, tag, config, "field");
      String targetField = ConfigurationUtils.readStringProperty(TYPE, tag, config, "target_field", DEFAULT_TARGET_FIELD);
      String question = ConfigurationUtils.readStringProperty(TYPE, tag, config, "question", DEFAULT_QUESTION);
      int maxTokens = ConfigurationUtils.readIntProperty(TYPE, tag, config, "max_tokens", DEFAULT_MAX_TOKENS);
      boolean ignoreMissing = ConfigurationUtils.readBooleanProperty(TYPE, tag, config, "ignore_missing", false);
      if (question.isBlank()) {
        throw ConfigurationUtils.newConfigurationException(TYPE, tag, "question", "must not be empty");
      }
      // Beam search (the released decoding) always takes 2 steps; the upper bound is the node's.
      if (maxTokens < 2 || maxTokens > maxTokensLimit) {
        throw ConfigurationUtils.newConfigurationException(TYPE, tag, "max_tokens", "must be between 2 and "
            + maxTokensLimit + " (the node setting [" + CaptionSettings.MAX_TOKENS_LIMIT.getKey() + "]), got " + maxTokens);
      }
      ChatModel model;
      try {
        model = nodeModel.get().get();
      } catch (IllegalStateException e) {
        throw ConfigurationUtils.newConfigurationException(TYPE, tag, null, e.getMessage());
      }
      return new CaptionProcessor(tag, description, field, targetField, question, maxTokens, ignoreMissing, model,
          inferences.get());
    }
  }
}
