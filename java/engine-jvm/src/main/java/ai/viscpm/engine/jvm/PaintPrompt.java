package ai.viscpm.engine.jvm;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import ai.viscpm.text.Encoding;
import ai.viscpm.text.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * VisCPM-Paint's CPM-Bee inputs (paint.md §2, input-format.md §2-§4): the dicts {@code
 * {"caption": prompt, "objects": ""}} and the same with the negative prompt, each converted to
 * ids and collated as a batch of one, both right-padded with zeros to the longer of the two.
 * The text is tokenized by the shared tokenizer (the C API); segments, sub ids, the relation
 * table, padding and the ext table are built here. The prompt is not escaped (the reference's
 * quirk: {@code <ans>} inserts the special token, an unknown {@code <foo>} is an error).
 *
 * @param cond the conditional inputs, one row of {@code length} tokens
 * @param uncond the unconditional inputs, padded to the same length
 * @param length the padded length L
 */
public record PaintPrompt(CpmBeeInputs cond, CpmBeeInputs uncond, int length) {
  private static final int BOS = 6, EOS = 7, MAX_DEPTH = 8;

  /** One segment of the tree: its text, depth and parent. */
  private record Segment(String value, int depth, int parent) {}

  /** The ids of one dict before collation. */
  private record Converted(long[] ids, long[] subs, long[] segmentIds, int numSegments, long[] segmentRel) {}

  public static PaintPrompt build(Tokenizer tokenizer, String prompt, String negativePrompt) throws VisCpmException {
    Converted c = convert(tokenizer, prompt == null ? "" : prompt);
    Converted u = convert(tokenizer, negativePrompt == null ? "" : negativePrompt);
    int length = Math.max(c.ids.length, u.ids.length);
    return new PaintPrompt(collate(c, length), collate(u, length), length);
  }

  /** {"caption": text, "objects": ""}: root, key, value, key, value (pre-order). */
  private static Converted convert(Tokenizer tokenizer, String text) throws VisCpmException {
    List<Segment> segments = List.of(new Segment("<root>", 0, -1), new Segment("caption", 1, 0),
        new Segment(text, 2, 1), new Segment("objects", 1, 0), new Segment("", 2, 3));
    final int n = segments.size(), vocab = tokenizer.vocabSize();
    // Per request: class name -> (distinct unknown string -> sub id), in order of appearance.
    Map<String, Map<String, Integer>> classes = new HashMap<>();
    Map<String, Long> classIds = new HashMap<>();
    List<Long> ids = new ArrayList<>(), subs = new ArrayList<>(), segmentIds = new ArrayList<>();
    for (int s = 0; s < n; s++) {
      Encoding e;
      try {
        e = tokenizer.encode(segments.get(s).value);
      } catch (InvalidInputException ex) {
        throw new InvalidInputException("in " + (s == 2 ? "the prompt" : "segment " + s) + ": " + ex.getMessage());
      }
      int begin = ids.size();
      ids.add((long) BOS);
      subs.add(0L);
      for (int id : e.ids()) {
        if (id < vocab) {
          ids.add((long) id);
          subs.add(0L);
          continue;
        }
        String token = e.extTable().get(id - vocab);
        String name = className(token);
        Map<String, Integer> seen = classes.computeIfAbsent(name, k -> new HashMap<>());
        int sub = seen.computeIfAbsent(token, k -> seen.size());
        Long classId = classIds.get(name);
        if (classId == null) {
          int[] nameIds = tokenizer.encode(name).ids();
          if (nameIds.length != 1 || nameIds[0] >= vocab) {
            throw new InvalidInputException("Invalid token " + token + " in the prompt: " + name
                + " is not a special token of the vocabulary (write '<<' for a literal '<')");
          }
          classId = (long) nameIds[0];
          classIds.put(name, classId);
        }
        ids.add(classId);
        subs.add((long) sub);
      }
      ids.add((long) EOS);  // no segment of a paint prompt is predicted: every one ends with EOS
      subs.add(0L);
      for (int i = begin; i < ids.size(); i++) segmentIds.add((long) s);
    }
    return new Converted(toArray(ids), toArray(subs), toArray(segmentIds), n, segmentRel(segments));
  }

  /** The class of an unknown string: {@code <name_suffix>} -> {@code <name>}, anything else {@code <unk>}. */
  private static String className(String token) {
    if (token.length() < 2 || !token.startsWith("<") || !token.endsWith(">")) return "<unk>";
    String inner = token.substring(1, token.length() - 1);
    int underscore = inner.indexOf('_');
    if (underscore >= 0) inner = inner.substring(0, underscore);
    return "<" + inner + ">";
  }

  /** input-format.md §4: n×n relation buckets, 0 on the diagonal, else up·8 + down (+1 unless 0). */
  private static long[] segmentRel(List<Segment> segments) {
    final int n = segments.size(), clamp = MAX_DEPTH - 1;
    long[] rel = new long[n * n];
    for (int a = 0; a < n; a++) {
      for (int b = 0; b < n; b++) {
        if (a == b) continue;
        int x = a, y = b;
        while (segments.get(x).depth > segments.get(y).depth) x = segments.get(x).parent;
        while (segments.get(y).depth > segments.get(x).depth) y = segments.get(y).parent;
        while (x != y) {
          x = segments.get(x).parent;
          y = segments.get(y).parent;
        }
        int lca = segments.get(x).depth;
        int up = Math.min(segments.get(a).depth - lca, clamp), down = Math.min(segments.get(b).depth - lca, clamp);
        int code = up * MAX_DEPTH + down;
        rel[a * n + b] = code == 0 ? 0 : code + 1;
      }
    }
    return rel;
  }

  /** paint.md §2.3: right-padded with zeros to {@code l}; ext columns in token order, else the placeholder (0, 1). */
  private static CpmBeeInputs collate(Converted c, int l) {
    final int t = c.ids.length;
    long[] ids = Arrays.copyOf(c.ids, l), subs = Arrays.copyOf(c.subs, l), segmentIds = Arrays.copyOf(c.segmentIds, l);
    long[] context = new long[l], numSegments = new long[l];
    for (int i = 0; i < t; i++) {
      context[i] = 1;
      numSegments[i] = c.numSegments;
    }
    long[] rel = c.segmentRel.length < l ? Arrays.copyOf(c.segmentRel, l) : c.segmentRel;
    LinkedHashSet<List<Long>> ext = new LinkedHashSet<>();
    for (int i = 0; i < t; i++) if (c.subs[i] > 0) ext.add(List.of(c.ids[i], c.subs[i]));
    if (ext.isEmpty()) ext.add(List.of(0L, 1L));
    long[] extIds = ext.stream().mapToLong(p -> p.get(0)).toArray();
    long[] extSubs = ext.stream().mapToLong(p -> p.get(1)).toArray();
    return new CpmBeeInputs(1, l, ids, subs, null, context, new long[l], numSegments, segmentIds, new long[l], rel,
        rel.length, extIds, extSubs, new long[] {t}, new long[l]);
  }

  private static long[] toArray(List<Long> values) {
    return values.stream().mapToLong(Long::longValue).toArray();
  }
}
