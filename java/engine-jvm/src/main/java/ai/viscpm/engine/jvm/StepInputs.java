package ai.viscpm.engine.jvm;

/**
 * One new token per cache row (beam) for an incremental step (cpmbee.md §7.2, chat.md §4).
 * Every array has one entry per row.
 *
 * @param context null = every token is a context token (the chat flow feeds context = 1)
 * @param sampleIds null = all 0
 * @param numSegments null = the last prefilled token's value of each row
 * @param segmentRelOffset null = the last prefilled token's value of each row
 */
public record StepInputs(
    long[] tokenIds,
    long[] tokenSubs,
    long[] positions,
    long[] segmentIds,
    long[] context,
    long[] sampleIds,
    long[] numSegments,
    long[] segmentRelOffset) {

  public StepInputs {
    if (tokenIds == null || tokenIds.length == 0) throw new IllegalArgumentException("CPM-Bee step: no token ids");
    int rows = tokenIds.length;
    check("token_subs", tokenSubs, rows, true);
    check("positions", positions, rows, true);
    check("segment_ids", segmentIds, rows, true);
    check("context", context, rows, false);
    check("sample_ids", sampleIds, rows, false);
    check("num_segments", numSegments, rows, false);
    check("segment_rel_offset", segmentRelOffset, rows, false);
  }

  /** The chat flow's step: context 1, sample 0, the prompt's last segment fields. */
  public static StepInputs of(long[] tokenIds, long[] tokenSubs, long[] positions, long[] segmentIds) {
    return new StepInputs(tokenIds, tokenSubs, positions, segmentIds, null, null, null, null);
  }

  public int rows() {
    return tokenIds.length;
  }

  private static void check(String name, long[] values, int rows, boolean required) {
    if (values == null) {
      if (required) throw new IllegalArgumentException("CPM-Bee step input \"" + name + "\" is missing");
      return;
    }
    if (values.length != rows) {
      throw new IllegalArgumentException("CPM-Bee step input \"" + name + "\" must have one value per cache row ("
          + rows + "), got " + values.length);
    }
  }
}
