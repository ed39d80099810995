package ai.viscpm.engine.jvm;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The key/value buffer of the incremental pass (cpmbee.md §7.2) for {@code rows} rows of up to
 * {@code capacity} tokens: per layer K and V {@code [rows, H, capacity, dh]} in the model dtype
 * (one allocation for all layers), and the key-side token fields {@code [rows, capacity]}
 * (position, context, sample id, num_segments, segment), written as tokens are fed. Made by
 * {@link CpmBee#newCache}; owns its tensors. One cache serves one request at a time.
 */
public final class KvCache implements AutoCloseable {
  static final int POSITION = 0, CONTEXT = 1, SAMPLE = 2, NUM_SEGMENTS = 3, SEGMENT = 4, NUM_FIELDS = 5;

  final int rows;
  final int capacity;
  final int numLayers;
  private final List<Tensor> owned = new ArrayList<>();
  private final Tensor storage;        // [layers, 2, rows, H, capacity, dh]
  private final Tensor[] keys, values;  // per layer views
  private final Tensor fieldStorage;   // [NUM_FIELDS, rows, capacity] int64
  private final Tensor[] fields;

  int length;
  boolean hasRequest;
  // Request constants, fixed by the first prefill (owned, replaced by later prefills).
  Tensor segmentRel;       // [rows, R] int64
  Tensor extRows;          // [E, D] or null
  Tensor lastNumSegments;  // [rows] int64
  Tensor lastRelOffset;    // [rows] int64
  private boolean closed;

  KvCache(CpmBeeConfig config, ScalarType dtype, int rows, int capacity) {
    if (rows <= 0 || capacity <= 0) throw new IllegalArgumentException("KV cache needs rows and capacity > 0");
    this.rows = rows;
    this.capacity = capacity;
    this.numLayers = Math.toIntExact(config.numLayers());
    keys = new Tensor[numLayers];
    values = new Tensor[numLayers];
    fields = new Tensor[NUM_FIELDS];
    try (PointerScope scope = new PointerScope()) {
      storage = own(torch.zeros(new long[] {numLayers, 2, rows, config.numHeads(), capacity, config.dimHead()},
          Torch.options(dtype)));
      for (int i = 0; i < numLayers; i++) {
        keys[i] = own(storage.select(0, i).select(0, 0));
        values[i] = own(storage.select(0, i).select(0, 1));
      }
      fieldStorage = own(torch.zeros(new long[] {NUM_FIELDS, rows, capacity}, Torch.options(ScalarType.Long)));
      for (int i = 0; i < NUM_FIELDS; i++) fields[i] = own(fieldStorage.select(0, i));
    }
  }

  private Tensor own(Tensor t) {
    owned.add(Torch.keep(t));
    return t;
  }

  /** Tokens cached per row. */
  public int length() {
    return length;
  }

  public int rows() {
    return rows;
  }

  public int capacity() {
    return capacity;
  }

  Tensor keys(int layer) {
    return keys[layer];
  }

  Tensor values(int layer) {
    return values[layer];
  }

  Tensor field(int which) {
    return fields[which];
  }

  void check() {
    if (closed) throw new IllegalStateException("the KV cache is closed");
  }

  /** Replaces the request constants (each argument kept by the caller's scope; taken over here). */
  void setRequest(Tensor segmentRel, Tensor extRows, Tensor lastNumSegments, Tensor lastRelOffset) {
    closeRequest();
    this.segmentRel = Torch.keep(segmentRel);
    this.extRows = extRows == null ? null : Torch.keep(extRows);
    this.lastNumSegments = Torch.keep(lastNumSegments);
    this.lastRelOffset = Torch.keep(lastRelOffset);
    hasRequest = true;
  }

  private void closeRequest() {
    for (Tensor t : new Tensor[] {segmentRel, extRows, lastNumSegments, lastRelOffset}) {
      if (t != null) t.close();
    }
    segmentRel = extRows = lastNumSegments = lastRelOffset = null;
    hasRequest = false;
  }

  /**
   * Beam bookkeeping: row {@code r} becomes a copy of the old row {@code rows[r]} (keys,
   * values, token fields and the request's per-row constants), as the reference's
   * {@code buffer.index_select(0, beam_idx)}.
   */
  public void reorder(long[] rowIndex) {
    check();
    if (rowIndex.length != rows) throw new IllegalArgumentException(rowIndex.length + " indices for " + rows + " rows");
    for (long r : rowIndex) {
      if (r < 0 || r >= rows) throw new IllegalArgumentException("row index " + r + " outside [0, " + rows + ")");
    }
    try (PointerScope scope = new PointerScope(); org.bytedeco.pytorch.InferenceMode guard =
        new org.bytedeco.pytorch.InferenceMode()) {
      Tensor index = Torch.longs(rowIndex, rows);
      Tensor cached = storage.narrow(4, 0, Math.max(length, 1));  // only the filled positions move
      cached.copy_(cached.index_select(2, index));
      Tensor filled = fieldStorage.narrow(2, 0, Math.max(length, 1));
      filled.copy_(filled.index_select(1, index));
      if (hasRequest) {
        setRequest(segmentRel.index_select(0, index), extRows == null ? null : extRows.clone(),
            lastNumSegments.index_select(0, index), lastRelOffset.index_select(0, index));
      }
    }
  }

  /** Forgets every cached token (the storage is kept for the next request). */
  public void clear() {
    check();
    closeRequest();
    length = 0;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    closeRequest();
    for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
    owned.clear();
  }
}
