package ai.viscpm.engine.jvm;

import java.util.Arrays;

/**
 * Model inputs of CPM-Bee for {@code rows} rows of {@code length} tokens (cpmbee.md §7,
 * input-format.md), as the structured-input builder produces them. Per-token fields are
 * row-major {@code [rows * length]}; {@code segmentRel} is {@code [rows * segmentRelWidth]}
 * (each row's flattened relation tables). Plain Java arrays: building inputs holds no native
 * memory, the model turns them into tensors inside its call.
 *
 * @param positions cached pass only (the full pass uses 0..length-1); null = 0..length-1
 * @param context non-zero = context token
 * @param extTableIds ext-table ids (extra logit columns), may be empty
 * @param lengths full pass only: valid tokens per row; null = all
 * @param span full pass only; null = all 0
 */
public record CpmBeeInputs(
    int rows,
    int length,
    long[] inputIds,
    long[] inputIdSubs,
    long[] positions,
    long[] context,
    long[] sampleIds,
    long[] numSegments,
    long[] segmentIds,
    long[] segmentRelOffset,
    long[] segmentRel,
    int segmentRelWidth,
    long[] extTableIds,
    long[] extTableSub,
    long[] lengths,
    long[] span) {

  public CpmBeeInputs {
    if (rows <= 0) throw new IllegalArgumentException("CPM-Bee input has an empty batch");
    if (length < 0) throw new IllegalArgumentException("negative length");
    long tokens = (long) rows * length;
    check("input_ids", inputIds, tokens, true);
    check("input_id_subs", inputIdSubs, tokens, true);
    check("positions", positions, tokens, false);
    check("context", context, tokens, true);
    check("sample_ids", sampleIds, tokens, true);
    check("num_segments", numSegments, tokens, true);
    check("segment_ids", segmentIds, tokens, true);
    check("segment_rel_offset", segmentRelOffset, tokens, true);
    if (segmentRelWidth <= 0) throw new IllegalArgumentException("CPM-Bee input \"segment_rel\" must be non-empty");
    check("segment_rel", segmentRel, (long) rows * segmentRelWidth, true);
    if (extTableIds == null) extTableIds = new long[0];
    if (extTableSub == null) extTableSub = new long[0];
    if (extTableIds.length != extTableSub.length) {
      throw new IllegalArgumentException("CPM-Bee ext table: " + extTableIds.length + " ids but " + extTableSub.length
          + " subs");
    }
    check("length", lengths, rows, false);
    check("span", span, tokens, false);
  }

  private static void check(String name, long[] values, long expected, boolean required) {
    if (values == null) {
      if (required) throw new IllegalArgumentException("CPM-Bee input \"" + name + "\" is missing");
      return;
    }
    if (values.length != expected) {
      throw new IllegalArgumentException("CPM-Bee input \"" + name + "\" has " + values.length + " values, expected "
          + expected);
    }
  }

  /** The same inputs with the given per-token positions (cached pass). */
  public CpmBeeInputs withPositions(long[] newPositions) {
    return new CpmBeeInputs(rows, length, inputIds, inputIdSubs, newPositions, context, sampleIds, numSegments,
        segmentIds, segmentRelOffset, segmentRel, segmentRelWidth, extTableIds, extTableSub, lengths, span);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CpmBeeInputs x && rows == x.rows && length == x.length && segmentRelWidth == x.segmentRelWidth
        && Arrays.equals(inputIds, x.inputIds) && Arrays.equals(inputIdSubs, x.inputIdSubs)
        && Arrays.equals(positions, x.positions) && Arrays.equals(context, x.context)
        && Arrays.equals(sampleIds, x.sampleIds) && Arrays.equals(numSegments, x.numSegments)
        && Arrays.equals(segmentIds, x.segmentIds) && Arrays.equals(segmentRelOffset, x.segmentRelOffset)
        && Arrays.equals(segmentRel, x.segmentRel) && Arrays.equals(extTableIds, x.extTableIds)
        && Arrays.equals(extTableSub, x.extTableSub) && Arrays.equals(lengths, x.lengths) && Arrays.equals(span, x.span);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(inputIds) * 31 + rows * 7 + length;
  }

  @Override
  public String toString() {
    return "CpmBeeInputs[" + rows + " x " + length + ", ext " + extTableIds.length + "]";
  }
}
