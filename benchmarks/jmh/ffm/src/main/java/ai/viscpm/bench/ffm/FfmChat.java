package ai.viscpm.bench.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * A VisCPM-Chat turn through java.lang.foreign: the model and session calls of the C API with
 * its structs laid out by hand ({@code viscpm_model_params}, {@code viscpm_generation_params},
 * {@code viscpm_chat_turn}: native/include/viscpm.h) and the text callback as an upcall stub.
 */
final class FfmChat implements AutoCloseable {
  static final StructLayout MODEL_PARAMS = MemoryLayout.structLayout(ADDRESS.withName("device"),
      JAVA_INT.withName("dtype"), JAVA_INT.withName("verify_checksums"), JAVA_INT.withName("low_memory"),
      MemoryLayout.paddingLayout(4));
  static final StructLayout GENERATION_PARAMS = MemoryLayout.structLayout(JAVA_INT.withName("decoding"),
      JAVA_INT.withName("beam_size"), JAVA_INT.withName("max_length"), JAVA_INT.withName("max_input_length"),
      JAVA_FLOAT.withName("temperature"), JAVA_FLOAT.withName("repetition_penalty"),
      JAVA_FLOAT.withName("length_penalty"), JAVA_INT.withName("top_k"), JAVA_FLOAT.withName("top_p"),
      MemoryLayout.paddingLayout(4), JAVA_LONG.withName("seed"), JAVA_INT.withName("escape_text"),
      MemoryLayout.paddingLayout(4));
  static final long MAX_LENGTH_OFFSET = GENERATION_PARAMS.byteOffset(MemoryLayout.PathElement.groupElement("max_length"));
  static final long BEAM_SIZE_OFFSET = GENERATION_PARAMS.byteOffset(MemoryLayout.PathElement.groupElement("beam_size"));
  /** viscpm_chat_turn: answer, answer_bytes, token_ids, token_count, ... (only the first four are read). */
  static final long TURN_TOKEN_COUNT_OFFSET = 24;

  private static final Linker L = Linker.nativeLinker();
  private static final MethodHandle MODEL_DEFAULTS = Ffm.downcallPublic("viscpm_model_default_params",
      FunctionDescriptor.of(MODEL_PARAMS));
  private static final MethodHandle GENERATION_DEFAULTS = Ffm.downcallPublic("viscpm_generation_default_params",
      FunctionDescriptor.of(GENERATION_PARAMS));
  private static final MethodHandle LOAD_FILES = Ffm.downcallPublic("viscpm_chat_model_load_files",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
  private static final MethodHandle MODEL_FREE = Ffm.downcallPublic("viscpm_chat_model_free",
      FunctionDescriptor.ofVoid(ADDRESS));
  private static final MethodHandle OPEN_FILE = Ffm.downcallPublic("viscpm_chat_session_open_file",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
  private static final MethodHandle SESSION_FREE = Ffm.downcallPublic("viscpm_chat_session_free",
      FunctionDescriptor.ofVoid(ADDRESS));
  private static final MethodHandle ASK = Ffm.downcallPublic("viscpm_chat_session_ask",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
  private static final MethodHandle TURN_FREE = Ffm.downcallPublic("viscpm_chat_turn_free",
      FunctionDescriptor.ofVoid(ADDRESS));
  private static final MethodHandle LAST_ERROR = Ffm.downcallPublic("viscpm_last_error", FunctionDescriptor.of(ADDRESS));

  private final Arena arena = Arena.ofShared();
  private final MemorySegment model, generation, question, image, onText, out;
  private MemorySegment session = MemorySegment.NULL;
  int textPieces;

  FfmChat(String dir, String checkpoint, String cpmBee, String beit3, String vocab, String image, String question,
      int maxLength) throws Throwable {
    MemorySegment mp = (MemorySegment) MODEL_DEFAULTS.invokeExact((java.lang.foreign.SegmentAllocator) arena);
    generation = (MemorySegment) GENERATION_DEFAULTS.invokeExact((java.lang.foreign.SegmentAllocator) arena);
    generation.set(JAVA_INT, BEAM_SIZE_OFFSET, 3);
    generation.set(JAVA_INT, MAX_LENGTH_OFFSET, maxLength);
    out = arena.allocate(ADDRESS);
    check((int) LOAD_FILES.invokeExact(arena.allocateFrom(dir), arena.allocateFrom(checkpoint),
        arena.allocateFrom(cpmBee), arena.allocateFrom(beit3), arena.allocateFrom(vocab), mp, out));
    model = out.get(ADDRESS, 0);
    this.question = arena.allocateFrom(question);
    this.image = arena.allocateFrom(image);
    MethodHandle cb = MethodHandles.lookup().bind(this, "onText",
        MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class));
    onText = L.upcallStub(cb, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), arena);
  }

  /** The text callback: counts the pieces, goes on. */
  private int onText(MemorySegment text, MemorySegment userData) {
    textPieces++;
    return 0;
  }

  void openSession() throws Throwable {
    check((int) OPEN_FILE.invokeExact(model, image, out));
    session = out.get(ADDRESS, 0);
  }

  /** One turn; returns the answer's token count (a final EOS included). */
  long ask() throws Throwable {
    check((int) ASK.invokeExact(session, question, generation, onText, MemorySegment.NULL, out));
    MemorySegment turn = out.get(ADDRESS, 0).reinterpret(64);
    long n = turn.get(JAVA_LONG, TURN_TOKEN_COUNT_OFFSET);
    TURN_FREE.invokeExact(turn);
    return n;
  }

  void closeSession() throws Throwable {
    if (!session.equals(MemorySegment.NULL)) SESSION_FREE.invokeExact(session);
    session = MemorySegment.NULL;
  }

  @Override
  public void close() {
    try {
      closeSession();
      MODEL_FREE.invokeExact(model);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    } finally {
      arena.close();
    }
  }

  private static void check(int status) throws Throwable {
    if (status != 0) {
      MemorySegment m = (MemorySegment) LAST_ERROR.invokeExact();
      throw new IllegalStateException("status " + status + ": " + m.reinterpret(4096).getString(0));
    }
  }
}
