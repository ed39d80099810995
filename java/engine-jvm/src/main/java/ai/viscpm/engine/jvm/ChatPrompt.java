package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import ai.viscpm.text.Encoding;
import ai.viscpm.text.Tokenizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The structured input of one VisCPM-Chat turn (input-format.md §1-§6, chat.md §2):
 * {@code {"image": "<unk>"×Q, "context": history, "question": question, "<ans>": ""}} turned
 * into the prompt's model inputs (batch 1, the answer segment's tokens dropped), the image
 * bound, the request ext table, the decoding table and the answer segment. The text is
 * tokenized by the shared tokenizer ({@link Tokenizer}, the C API); the segment tree, sub ids,
 * relation table and ext table are built here, in Java.
 *
 * @param inputs the N prompt tokens, one row
 * @param imageBegin first image placeholder position (inclusive)
 * @param imageEnd end of the image placeholders (exclusive)
 * @param decodingTable output id (a class id with sub 0, or {@code V + ext index}) → the
 *     original string; its keys may be generated
 * @param answerSegment segment id of the answer (8 for chat)
 * @param rawLength tokens of the full structure, answer tokens included (the limit of
 *     {@code max_inp_length} applies to it)
 * @param raw the structure conversion before the answer tokens are dropped (§3)
 */
public record ChatPrompt(CpmBeeInputs inputs, long imageBegin, long imageEnd, Map<Long, String> decodingTable,
                         long answerSegment, int rawLength, Raw raw) {
  static final int BOS = 6, EOS = 7;

  /**
   * The output of the structure conversion (§3), answer segment included, as the reference's
   * {@code convert_data_to_id} returns it.
   *
   * @param extTable the request's tokenizer fake ids (shared by all segments, numbered from
   *     the vocabulary size in order of first appearance) → their strings
   * @param tokenClasses class name → (fake id → sub id), classes in order of first appearance
   */
  public record Raw(long[] inputIds, long[] inputIdSubs, long[] context, long[] segmentIds, long[] segmentRel,
                    int numSegments, Map<Long, String> extTable, Map<String, Map<Long, Integer>> tokenClasses) {}

  /** One segment of the tree (§2). */
  private record Segment(String value, int depth, int parent, boolean predict, boolean image) {}

  /**
   * Builds the prompt of a turn. {@code question} and {@code context} are model text (the
   * reference inserts them unescaped; escape them first for literal {@code <}).
   *
   * @throws InvalidInputException for text the tokenizer rejects, an unknown special token
   *     class, or a prompt longer than {@code maxInputLength}
   */
  public static ChatPrompt build(Tokenizer tokenizer, int queryNum, String context, String question, int maxInputLength)
      throws VisCpmException {
    // §2: segments in pre-order with depth, parent, flags.
    List<Segment> segments = List.of(
        new Segment("<root>", 0, -1, false, false),
        new Segment("image", 1, 0, false, false),
        new Segment("<unk>".repeat(queryNum), 2, 1, false, true),
        new Segment("context", 1, 0, false, false),
        new Segment(context, 2, 3, false, false),
        new Segment("question", 1, 0, false, false),
        new Segment(question, 2, 5, false, false),
        new Segment("<ans>", 1, 0, false, false),
        new Segment("<ans_1>", 2, 7, true, false));
    final int n = segments.size();
    final int vocab = tokenizer.vocabSize();

    // §3: tokens, sub ids, context flags; one class map for the request.
    Map<String, Map<String, Integer>> classes = new LinkedHashMap<>();  // class -> (string -> sub), first-seen order
    Map<String, Long> classIds = new LinkedHashMap<>();
    Map<String, Long> fakeIds = new LinkedHashMap<>();  // the request-wide tokenizer ext table
    Map<String, Map<Long, Integer>> tokenClasses = new LinkedHashMap<>();
    List<long[]> tokens = new ArrayList<>();  // {id, sub, segment, context}
    long imageBegin = -1, imageEnd = -1;
    for (int s = 0; s < n; s++) {
      Segment seg = segments.get(s);
      Encoding e = tokenizer.encode(seg.value());
      int begin = tokens.size();
      long ctx = seg.predict() ? 0 : 1;
      tokens.add(new long[] {BOS, 0, s, ctx});
      for (int id : e.ids()) {
        if (id < vocab) {
          tokens.add(new long[] {id, 0, s, ctx});
          continue;
        }
        String word = e.extTable().get(id - vocab);
        long fakeId = fakeIds.computeIfAbsent(word, w -> (long) vocab + fakeIds.size());
        String cls = className(word);
        Long classId = classIds.get(cls);
        if (classId == null) {
          int[] ids = tokenizer.encode(cls).ids();
          if (ids.length != 1 || ids[0] >= vocab) {
            throw new InvalidInputException("invalid token " + word + ": its class " + cls + " is not a vocabulary special token");
          }
          classId = (long) ids[0];
          classIds.put(cls, classId);
        }
        Map<String, Integer> subs = classes.computeIfAbsent(cls, k -> new LinkedHashMap<>());
        Integer sub = subs.get(word);
        if (sub == null) {
          sub = subs.size();
          subs.put(word, sub);
          tokenClasses.computeIfAbsent(cls, k -> new LinkedHashMap<>()).put(fakeId, sub);
        }
        tokens.add(new long[] {classId, sub, s, ctx});
      }
      if (!seg.predict()) tokens.add(new long[] {EOS, 0, s, ctx});
      if (seg.image()) {
        imageBegin = begin + 1;
        imageEnd = tokens.size() - 1;
      }
    }
    final int rawLength = tokens.size();

    // §5.1: the full list must fit max_inp_length, else the answer token is cut away.
    if (rawLength > maxInputLength) {
      throw new InvalidInputException("the chat prompt is too long: " + (rawLength - 2)
          + " tokens (image placeholders, history and question) but at most " + (maxInputLength - 2)
          + " fit; shorten the question or drop older turns from the history");
    }
    // §5.2: answer bookkeeping (context-0 <ans> tokens).
    long ansId = classIds.containsKey("<ans>") ? classIds.get("<ans>") : -1;
    long answerSegment = -1;
    for (long[] t : tokens) {
      if (t[3] == 0 && t[0] == ansId) {
        answerSegment = t[2];
        break;
      }
    }
    if (answerSegment < 0) throw new InvalidInputException("no answer to predict");

    // §5.3-5.4: drop the context-0 tokens; fields of the kept ones.
    List<long[]> kept = new ArrayList<>();
    for (long[] t : tokens) {
      if (t[3] != 0) kept.add(t);
    }
    final int len = kept.size();
    long[] ids = new long[len], subs = new long[len], positions = new long[len], segs = new long[len];
    long[] ones = new long[len], zeros = new long[len], numSegments = new long[len];
    for (int i = 0; i < len; i++) {
      long[] t = kept.get(i);
      ids[i] = t[0];
      subs[i] = t[1];
      segs[i] = t[2];
      positions[i] = i;
      ones[i] = 1;
      numSegments[i] = n;
    }

    // §4: segment relations from the tree.
    long[] rel = new long[n * n];
    for (int a = 0; a < n; a++) {
      for (int b = 0; b < n; b++) {
        if (a == b) continue;
        int c = lowestCommonAncestor(segments, a, b);
        int up = Math.min(segments.get(a).depth() - segments.get(c).depth(), 7);
        int down = Math.min(segments.get(b).depth() - segments.get(c).depth(), 7);
        int code = up * 8 + down;
        rel[a * n + b] = code == 0 ? 0 : code + 1;
      }
    }

    // §6: request ext table and decoding table (the <ans> class skipped).
    List<Long> extIds = new ArrayList<>(), extSubs = new ArrayList<>();
    Map<Long, String> decoding = new LinkedHashMap<>();
    for (Map.Entry<String, Map<String, Integer>> cls : classes.entrySet()) {
      if (cls.getKey().equals("<ans>")) continue;
      long classId = classIds.get(cls.getKey());
      for (Map.Entry<String, Integer> entry : cls.getValue().entrySet()) {
        long sub = entry.getValue();
        if (sub == 0) {
          decoding.put(classId, entry.getKey());
          continue;
        }
        int index = -1;
        for (int k = 0; k < extIds.size(); k++) {
          if (extIds.get(k) == classId && extSubs.get(k) == sub) index = k;
        }
        if (index < 0) {
          index = extIds.size();
          extIds.add(classId);
          extSubs.add(sub);
        }
        decoding.put((long) vocab + index, entry.getKey());
      }
    }
    long[][] rawFields = new long[4][rawLength];
    for (int i = 0; i < rawLength; i++) {
      for (int k = 0; k < 4; k++) rawFields[k][i] = tokens.get(i)[k];
    }
    Map<Long, String> extTable = new LinkedHashMap<>();
    fakeIds.forEach((word, id) -> extTable.put(id, word));
    Raw raw = new Raw(rawFields[0], rawFields[1], rawFields[3], rawFields[2], rel, n, Collections.unmodifiableMap(extTable),
        Collections.unmodifiableMap(tokenClasses));
    CpmBeeInputs inputs = new CpmBeeInputs(1, len, ids, subs, positions, ones, zeros, numSegments, segs, zeros.clone(),
        rel, n * n, toArray(extIds), toArray(extSubs), null, null);
    return new ChatPrompt(inputs, imageBegin, imageEnd, Collections.unmodifiableMap(decoding), answerSegment, rawLength,
        raw);
  }

  /** §3 step 2: {@code <name_k>} → {@code <name>}; unknown text → {@code <unk>}. */
  static String className(String word) {
    if (word.length() >= 2 && word.startsWith("<") && word.endsWith(">")) {
      String inner = word.substring(1, word.length() - 1);
      int underscore = inner.indexOf('_');
      return "<" + (underscore < 0 ? inner : inner.substring(0, underscore)) + ">";
    }
    return "<unk>";
  }

  private static int lowestCommonAncestor(List<Segment> segments, int a, int b) {
    java.util.Set<Integer> ancestors = new java.util.HashSet<>();
    for (int x = a; x >= 0; x = segments.get(x).parent()) ancestors.add(x);
    for (int y = b; y >= 0; y = segments.get(y).parent()) {
      if (ancestors.contains(y)) return y;
    }
    return 0;
  }

  private static long[] toArray(List<Long> values) {
    long[] out = new long[values.size()];
    for (int i = 0; i < out.length; i++) out[i] = values.get(i);
    return out;
  }

  /** The prompt ids as ints (the fixtures' {@code prompt_input_ids}). */
  public int[] promptIds() {
    long[] ids = inputs.inputIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
    return out;
  }

  /**
   * Text of output ids (raw logit indices, EOS excluded) in model form (tokenizer.md §5):
   * decoding-table ids → their strings, others through the tokenizer.
   */
  public String decode(Tokenizer tokenizer, List<Integer> ids) throws VisCpmException {
    StringBuilder out = new StringBuilder();
    List<Integer> run = new ArrayList<>();
    for (int id : ids) {
      String s = decodingTable.get((long) id);
      if (s == null) {
        run.add(id);
        continue;
      }
      flush(tokenizer, run, out);
      out.append(s);
    }
    flush(tokenizer, run, out);
    return out.toString();
  }

  private static void flush(Tokenizer tokenizer, List<Integer> run, StringBuilder out) throws VisCpmException {
    if (run.isEmpty()) return;
    int[] ids = new int[run.size()];
    for (int i = 0; i < ids.length; i++) ids[i] = run.get(i);
    out.append(tokenizer.decode(ids, List.of()));
    run.clear();
  }
}
