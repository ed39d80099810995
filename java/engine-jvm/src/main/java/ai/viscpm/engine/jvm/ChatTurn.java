package ai.viscpm.engine.jvm;

import ai.viscpm.VisCpmException;
import ai.viscpm.text.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;

/**
 * One VisCPM-Chat turn on the JVM engine (chat.md §2-§6), and the {@link Session} that runs
 * it: structured prompt ({@link ChatPrompt}), token embedding with the vision states spliced
 * over the image placeholders, one prefill into a cache of {@code beam_size} rows (the prompt
 * given once per row), then {@link BeamSearch} on single-token steps.
 *
 * @param question as given
 * @param contextBefore the history the prompt was built from
 * @param answer the answer in model form (tokenizer.md §5: a literal {@code <} as {@code <<})
 * @param contextAfter {@code contextBefore + "User: " + question + "\n" + "AI: " + answer + "\n"}
 * @param promptIds the prompt's token ids
 * @param result the chosen hypothesis (ids with a final EOS when it ended with one)
 * @param encodedImage whether this turn's vision states were computed for it (first turn)
 */
public record ChatTurn(String question, String contextBefore, String answer, String contextAfter, int[] promptIds,
                       BeamSearch.Result result, boolean encodedImage) {

  /**
   * A conversation about one image: its vision states (computed once) and the history
   * string. One turn at a time; owns the vision states and the KV cache.
   */
  public static final class Session implements AutoCloseable {
    private final JvmChatModel model;
    private final Tensor visionStates;  // [1, Q, D], owned
    private String context;
    private boolean freshStates;
    private KvCache cache;
    private boolean closed;

    Session(JvmChatModel model, Tensor visionStates, String context, boolean freshStates) {
      this.model = model;
      this.visionStates = visionStates;
      this.context = context == null ? "" : context;
      this.freshStates = freshStates;
    }

    /** The mapped vision states {@code [1, Q, D]} (owned by the session). */
    public Tensor visionStates() {
      check();
      return visionStates;
    }

    public String context() {
      return context;
    }

    /** Replaces the history (model text, the reference's format). */
    public void context(String context) {
      check();
      this.context = context == null ? "" : context;
    }

    /** Hears the answer ids that can no longer change, with the prompt whose decoding table maps them. */
    @FunctionalInterface
    public interface Stream {
      void onFinalIds(ChatPrompt prompt, int[] ids) throws VisCpmException;
    }

    /**
     * Answers {@code question} (model text: inserted as written, as the reference does) with
     * beam search. {@code trace} (optional) receives the search record.
     */
    public ChatTurn ask(String question, BeamSearch.Settings settings, int maxInputLength, BeamSearch.Trace trace,
        BooleanSupplier shouldContinue) throws VisCpmException {
      return ask(question, settings, maxInputLength, trace, shouldContinue, null);
    }

    /**
     * {@link #ask(String, BeamSearch.Settings, int, BeamSearch.Trace, BooleanSupplier)}, streaming:
     * {@code stream} (optional) hears the final answer ids after every step and, last, the whole
     * answer (EOS left out).
     */
    public ChatTurn ask(String question, BeamSearch.Settings settings, int maxInputLength, BeamSearch.Trace trace,
        BooleanSupplier shouldContinue, Stream stream) throws VisCpmException {
      return turn(question, settings.beamSize(), settings.maxLength() + 2, maxInputLength, trace,
          (stepper, spec, finalIds) -> BeamSearch.run(stepper, spec, settings, trace, shouldContinue, finalIds), stream);
    }

    /**
     * Answers {@code question} with greedy decoding or sampling ({@link SampleSearch}, the native
     * engine's extensions) on a one-row cache; {@code stream} as for beam search.
     */
    public ChatTurn ask(String question, SampleSearch.Settings settings, int maxInputLength,
        BooleanSupplier shouldContinue, Stream stream) throws VisCpmException {
      return turn(question, 1, Math.max(1, settings.maxLength()), maxInputLength, null,
          (stepper, spec, finalIds) -> SampleSearch.run(stepper, spec, settings, shouldContinue, finalIds), stream);
    }

    /** A decoder over the prefilled cache. */
    private interface Decoder {
      BeamSearch.Result run(BeamSearch.Stepper stepper, BeamSearch.Spec spec, BeamSearch.FinalIds finalIds)
          throws VisCpmException;
    }

    private ChatTurn turn(String question, int rows, int answerRoom, int maxInputLength, BeamSearch.Trace trace,
        Decoder decoder, Stream stream) throws VisCpmException {
      check();
      model.check();
      Tokenizer tokenizer = model.tokenizer();
      CpmBee llm = model.languageModel();
      ChatPrompt prompt = ChatPrompt.build(tokenizer, model.queryNum(), context, question, maxInputLength);
      final int beams = rows, len = prompt.inputs().length();
      final int capacity = len + answerRoom;
      if (cache == null || cache.rows() != beams || cache.capacity() < capacity) {
        if (cache != null) cache.close();
        cache = null;
        cache = llm.newCache(beams, capacity);
      } else {
        cache.clear();
      }
      BeamSearch.Result result;
      try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
        CpmBeeInputs one = prompt.inputs();
        Tensor embedding = llm.embed(one.inputIds(), one.inputIdSubs(), 1, len);
        CpmBee.spliceImageStates(embedding, prompt.imageBegin(), prompt.imageEnd(), visionStates);
        try (CpmBeeOutput ignored = llm.prefill(repeatRows(one, beams), cache, embedding, CpmBee.Logits.NONE)) {
          embedding.close();
        }
        long[] generatable = prompt.decodingTable().keySet().stream().mapToLong(Long::longValue).toArray();
        BeamSearch.Spec spec = new BeamSearch.Spec(llm.config().vocabSize(), one.extTableIds(), one.extTableSub(),
            generatable, ChatPrompt.BOS, ChatPrompt.EOS, 1);
        long answerSegment = prompt.answerSegment();
        if (trace != null) trace.answerSegment = answerSegment;
        long[] segments = new long[beams];
        java.util.Arrays.fill(segments, answerSegment);
        KvCache c = cache;
        BeamSearch.Stepper stepper = new BeamSearch.Stepper() {
          @Override
          public int rows() {
            return beams;
          }

          @Override
          public Tensor step(long[] ids, long[] subs, long[] positions) throws VisCpmException {
            try (CpmBeeOutput out = llm.step(StepInputs.of(ids, subs, positions, segments), c)) {
              return out.logits().narrow(0, 0, beams);  // a view in the caller's scope
            }
          }

          @Override
          public void reorder(long[] parents) {
            c.reorder(parents);
          }
        };
        result = decoder.run(stepper, spec, stream == null ? null : ids -> stream.onFinalIds(prompt, ids));
      }
      if (stream != null) stream.onFinalIds(prompt, result.answerIds());
      List<Integer> answerIds = new ArrayList<>();
      for (int id : result.answerIds()) answerIds.add(id);
      String answer = prompt.decode(tokenizer, answerIds);
      String after = context + "User: " + question + "\n" + "AI: " + answer + "\n";
      ChatTurn turn = new ChatTurn(question, context, answer, after, prompt.promptIds(), result, freshStates);
      context = after;
      freshStates = false;
      return turn;
    }

    private static CpmBeeInputs repeatRows(CpmBeeInputs in, int rows) {
      if (rows == 1) return in;
      return new CpmBeeInputs(rows, in.length(), repeat(in.inputIds(), rows), repeat(in.inputIdSubs(), rows),
          repeat(in.positions(), rows), repeat(in.context(), rows), repeat(in.sampleIds(), rows),
          repeat(in.numSegments(), rows), repeat(in.segmentIds(), rows), repeat(in.segmentRelOffset(), rows),
          repeat(in.segmentRel(), rows), in.segmentRelWidth(), in.extTableIds(), in.extTableSub(), null, null);
    }

    private static long[] repeat(long[] values, int rows) {
      long[] out = new long[values.length * rows];
      for (int r = 0; r < rows; r++) System.arraycopy(values, 0, out, r * values.length, values.length);
      return out;
    }

    private void check() {
      if (closed) throw new IllegalStateException("the chat session is closed");
    }

    @Override
    public void close() {
      if (closed) return;
      closed = true;
      if (cache != null) cache.close();
      visionStates.close();
    }
  }
}
