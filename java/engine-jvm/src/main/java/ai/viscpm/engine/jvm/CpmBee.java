package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import java.util.List;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * CPM-Bee (cpmbee.md) written in Java on LibTorch ops: the full-sequence forward (§7.1) and the
 * incremental pass over a {@link KvCache} (§7.2, prefill and one-token steps).
 *
 * <p>Numerics follow the spec's rounding points in the parameter dtype (float32, bfloat16 or
 * float16): every op runs in that dtype, so a CPU element-wise op rounds once per op as the
 * reference's GPU kernels do; the RMSNorm statistics, the attention softmax and the GELU are
 * computed in float32 and rounded back. Where the spec orders roundings (the linear-layer
 * scalings after or before the GEMM, the score scaling after QKᵀ, the residual sum before the
 * division by 1.05) the ops are kept separate and in that order.
 *
 * <p>Weights: read once at load through the C API ({@link Checkpoint#readFloat}) straight into
 * the storage of tensors LibTorch allocated (no Java-side copy for float32 models; reduced
 * dtypes go through one float32 staging tensor per weight). q/k/v and w_0/w_1 are fused into
 * one matrix each (one GEMM). Bias distance table, rotary frequencies and the constants of
 * every step are built at load time.
 *
 * <p>Thread-safety: after loading, any number of threads may run calls at once, each with its
 * own {@link KvCache}. Owns native memory: {@link #close()} frees it.
 */
public final class CpmBee extends NativeOwner {
  /** The residual post-scaling of §4.7. */
  static final double RESIDUAL_SCALE = 1.05;
  /** Rotary "distance scale" of EmbeddingExt (§4.3). */
  static final long ROTARY_DISTANCE_SCALE = 16;

  /** Which logits a prefill or forward computes. */
  public enum Logits { NONE, LAST, ALL }

  private final CpmBeeConfig config;
  private final ScalarType dtype;
  private final boolean reduced;

  // Parameters.
  private final Tensor embedding;        // [V, D]
  private final Tensor invFreq;          // [D/2], fp32 evaluation cast to dtype
  private final Tensor biasTable;        // [num_buckets + num_segment_buckets, H]
  private final Tensor distanceBuckets;  // [max_distance + 1] int64
  private final Layer[] layers;
  private final Tensor outputNorm;       // [D]

  // Constants of every call.
  private final Scalar embedDivisor, qkvDivisor, attentionOutDivisor, ffnInDivisor, ffnOutDivisor, scoreDivisor;
  private final Scalar residualScale, eps, rotaryScale, two, zero, one, negativeInfinity, bucketDirection;
  private final Scalar segmentBucketShift, maxDistance;
  private final ScalarTypeOptional float32;

  private record Layer(Tensor attentionNorm, Tensor qkv, Tensor attentionOut, Tensor ffnNorm, Tensor ffnIn,
                       Tensor ffnOut) {}

  private CpmBee(CpmBeeConfig config, ScalarType dtype, Checkpoint checkpoint, String prefix) throws VisCpmException {
    super("the CPM-Bee model");
    this.config = config;
    this.dtype = dtype;
    this.reduced = dtype != ScalarType.Float;
    final long d = config.dimModel(), w = config.attentionWidth(), f = config.dimFf();
    boolean done = false;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      WeightReader loader = new WeightReader(checkpoint, prefix, dtype, "CPM-Bee");
      embedding = own(loader.read("input_embedding.weight", config.vocabSize(), d));
      biasTable = own(loader.read("position_bias.relative_attention_bias", config.biasRows(), config.numHeads()));
      layers = new Layer[Math.toIntExact(config.numLayers())];
      for (int i = 0; i < layers.length; i++) {
        String p = "encoder.layers." + i + ".";
        String att = p + "self_att.self_attention.";
        Tensor qkv = own(Torch.empty(dtype, 3 * w, d));
        loader.readInto(att + "project_q.weight", qkv.narrow(0, 0, w));
        loader.readInto(att + "project_k.weight", qkv.narrow(0, w, w));
        loader.readInto(att + "project_v.weight", qkv.narrow(0, 2 * w, w));
        Tensor ffnIn = own(Torch.empty(dtype, 2 * f, d));
        loader.readInto(p + "ffn.ffn.w_in.w_0.weight", ffnIn.narrow(0, 0, f));
        loader.readInto(p + "ffn.ffn.w_in.w_1.weight", ffnIn.narrow(0, f, f));
        layers[i] = new Layer(
            own(loader.read(p + "self_att.layernorm_before_attention.weight", d)),
            qkv,
            own(loader.read(att + "attention_out.weight", d, w)),
            own(loader.read(p + "ffn.layernorm_before_ffn.weight", d)),
            ffnIn,
            own(loader.read(p + "ffn.ffn.w_out.weight", d, f)));
      }
      outputNorm = own(loader.read("encoder.output_layernorm.weight", d));
      loader.requireAllUsed(List.of());

      // 1 / 10000^(2j/D) evaluated in fp32, then cast (§4.3: float64 differs at one fp16 entry).
      Tensor exponent = torch.arange(new Scalar(0L), new Scalar(d), new Scalar(2L), Torch.options(ScalarType.Float))
          .div(new Scalar((double) d));
      invFreq = own(torch.reciprocal(torch.pow(new Scalar(10000.0), exponent)).to(dtype));
      distanceBuckets = own(distanceBucketTable(config));

      embedDivisor = own(new Scalar(Math.sqrt((double) d)));
      qkvDivisor = own(new Scalar(Math.sqrt((double) d)));
      attentionOutDivisor = own(new Scalar(Math.sqrt((double) w)));
      ffnInDivisor = own(new Scalar(Math.sqrt((double) d)));
      ffnOutDivisor = own(new Scalar(Math.sqrt((double) f)));
      scoreDivisor = own(new Scalar(Math.sqrt((double) config.dimHead())));
      residualScale = own(new Scalar(RESIDUAL_SCALE));
      eps = own(new Scalar(config.eps()));
      rotaryScale = own(new Scalar(ROTARY_DISTANCE_SCALE));
      two = own(new Scalar(2L));
      zero = own(new Scalar(0L));
      one = own(new Scalar(1L));
      negativeInfinity = own(new Scalar(Double.NEGATIVE_INFINITY));
      bucketDirection = own(new Scalar(config.positionBiasNumBuckets() / 2));
      segmentBucketShift = own(new Scalar(config.positionBiasNumBuckets() - 1));
      maxDistance = own(new Scalar(config.positionBiasMaxDistance()));
      float32 = own(new ScalarTypeOptional(ScalarType.Float));
      done = true;
    } finally {
      if (!done) release();
    }
  }

  /**
   * Loads a model: {@code <prefix>...} keys of the checkpoint, strictly (missing, unknown and
   * mis-shaped keys are a {@link FormatException} naming them), converted to {@code dtype}.
   */
  public static CpmBee load(CpmBeeConfig config, Checkpoint checkpoint, String prefix, ScalarType dtype)
      throws VisCpmException {
    if (dtype != ScalarType.Float && dtype != ScalarType.Half && dtype != ScalarType.BFloat16) {
      throw new ai.viscpm.UnsupportedFeatureException("CPM-Bee parameters must be float32, bfloat16 or float16, not " + dtype);
    }
    Torch.load();
    NativeLibrary.adoptProcessThreadCount();
    return new CpmBee(config, dtype, checkpoint, prefix);
  }

  /** Loads {@code config} (cpm-bee.json) and the {@code prefix} keys of {@code checkpoint} in float32. */
  public static CpmBee load(Path config, Path checkpoint, String prefix) throws VisCpmException {
    CpmBeeConfig c = CpmBeeConfig.load(config);
    try (Checkpoint ckpt = Checkpoint.open(checkpoint)) {
      return load(c, ckpt, prefix, ScalarType.Float);
    }
  }

  public CpmBeeConfig config() {
    return config;
  }

  public ScalarType dtype() {
    return dtype;
  }

  /** A cache for {@code rows} rows (beams) of up to {@code capacity} tokens (prompt + answer). */
  public KvCache newCache(int rows, int capacity) {
    checkOpen();
    try (InferenceMode guard = new InferenceMode()) {
      return new KvCache(config, dtype, rows, capacity);
    }
  }

  // ------------------------------------------------------------------------------ entry points

  /** EmbeddingExt (§4.3) of {@code [rows, length]} ids and sub ids; the caller owns the result. */
  public Tensor embed(long[] ids, long[] subs, int rows, int length) throws VisCpmException {
    checkOpen();
    if (ids.length != (long) rows * length || subs.length != ids.length) {
      throw new InvalidInputException("embed: " + ids.length + " ids and " + subs.length + " subs for [" + rows + ", "
          + length + "]");
    }
    checkIds(ids, "input_ids");
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      return Torch.keep(embed(Torch.longs(ids, rows, length), Torch.longs(subs, rows, length)));
    }
  }

  /**
   * Full-sequence forward (§7.1): positions 0..L-1, span and length masks. {@code inputEmbedding}
   * ({@code [B or 1, L, D]}, optional, not modified) replaces the token embeddings.
   */
  public CpmBeeOutput forward(CpmBeeInputs in, Tensor inputEmbedding, Logits logits) throws VisCpmException {
    checkOpen();
    if (in.length() == 0) throw new InvalidInputException("CPM-Bee forward needs at least one token");
    checkIds(in.inputIds(), "input_ids");
    checkIds(in.extTableIds(), "ext_table_ids");
    NativeLibrary.adoptProcessThreadCount();
    final int b = in.rows(), len = in.length();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Fields q = Fields.of(in, Torch.longs(positionsOf(b, len), b, len),
          in.span() == null ? torch.zeros(new long[] {b, len}, Torch.options(ScalarType.Long))
              : Torch.longs(in.span(), b, len));
      Tensor segmentRel = Torch.longs(in.segmentRel(), b, in.segmentRelWidth());
      Tensor length = in.lengths() == null
          ? torch.full(new long[] {b}, new Scalar((long) len), Torch.options(ScalarType.Long))
          : Torch.longs(in.lengths(), b);
      // §7.1 rule 3: both tokens inside the row's length and in the same span.
      Tensor inside = torch.arange(new Scalar((long) len), Torch.options(ScalarType.Long)).unsqueeze(0)
          .lt(length.unsqueeze(1));
      Tensor pairValid = Torch.queryColumn(inside).logical_and(Torch.keyRow(inside))
          .logical_and(Torch.queryColumn(q.span).eq(Torch.keyRow(q.span)));
      Plan plan = plan(q, q, segmentRel, pairValid, true, 0);
      Tensor embeddings = inputEmbedding != null ? checkedEmbedding(inputEmbedding, b, len)
          : embed(q.ids, q.subs);
      Tensor hidden = runLayers(embeddings.clone(), plan, null);
      Tensor out = null;
      if (logits != Logits.NONE) {
        Tensor extRows = extRows(in);
        out = projection(logits == Logits.LAST ? hidden.select(1, len - 1) : hidden, extRows);
      }
      return new CpmBeeOutput(Torch.keep(embeddings), Torch.keep(hidden), out == null ? null : Torch.keep(out));
    }
  }

  /**
   * Incremental pass over several tokens per row (§7.2) appended to {@code cache}: keys and
   * values of every layer are written into it. The inputs' ext table and segment relations
   * become the request's (used by the following {@link #step}s). {@code inputEmbedding}
   * ({@code [B or 1, L, D]}, optional) replaces the token embeddings.
   */
  public CpmBeeOutput prefill(CpmBeeInputs in, KvCache cache, Tensor inputEmbedding, Logits logits)
      throws VisCpmException {
    checkOpen();
    cache.check();
    if (in.length() == 0) throw new InvalidInputException("prefill needs at least one token");
    if (cache.numLayers != config.numLayers()) throw new InvalidInputException("prefill: the KV cache was not made by this model");
    if (in.rows() != cache.rows) {
      throw new InvalidInputException("prefill: input batch " + in.rows() + " must equal the cache batch " + cache.rows);
    }
    final int b = in.rows(), len = in.length(), past = cache.length, total = past + len;
    if (total > cache.capacity) {
      throw new InvalidInputException("prefill: " + total + " tokens exceed the KV cache capacity " + cache.capacity);
    }
    checkIds(in.inputIds(), "input_ids");
    checkIds(in.extTableIds(), "ext_table_ids");
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor positions = Torch.longs(in.positions() != null ? in.positions() : positionsOf(b, len), b, len);
      Fields q = Fields.of(in, positions, null);
      Tensor segmentRel = Torch.longs(in.segmentRel(), b, in.segmentRelWidth());
      Tensor embeddings = inputEmbedding != null ? checkedEmbedding(inputEmbedding, b, len) : embed(q.ids, q.subs);

      Fields k = appendKeyFields(cache, q, past, len);
      Plan plan = plan(q, k, segmentRel, Torch.keyRow(k.numSegments.ne(zero)), false, past);
      Tensor hidden = runLayers(embeddings.clone(), plan, cache);
      cache.length = total;
      Tensor extRows = extRows(in);
      cache.setRequest(segmentRel, extRows, q.numSegments.select(1, len - 1).contiguous(),
          q.relOffset.select(1, len - 1).contiguous());
      Tensor out = null;
      if (logits != Logits.NONE) {
        out = projection(logits == Logits.LAST ? hidden.select(1, len - 1) : hidden, extRows);
      }
      return new CpmBeeOutput(Torch.keep(embeddings), Torch.keep(hidden), out == null ? null : Torch.keep(out));
    }
  }

  /**
   * One token per cache row (§7.2 with one query): returns hidden states {@code [rows, D]} and
   * logits {@code [rows, V+E]} (the request's ext table); the token is appended to the cache.
   */
  public CpmBeeOutput step(StepInputs s, KvCache cache) throws VisCpmException {
    checkOpen();
    cache.check();
    if (!cache.hasRequest) throw new InvalidInputException("step: the KV cache holds no prompt (call prefill first)");
    final int rows = cache.rows, past = cache.length, total = past + 1;
    if (s.rows() != rows) {
      throw new InvalidInputException("step: " + s.rows() + " tokens for " + rows + " cache rows");
    }
    if (total > cache.capacity) throw new InvalidInputException("step: the KV cache is full (capacity " + cache.capacity + ")");
    checkIds(s.tokenIds(), "token_ids");
    NativeLibrary.adoptProcessThreadCount();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Fields q = new Fields();
      q.ids = Torch.longs(s.tokenIds(), rows, 1);
      q.subs = Torch.longs(s.tokenSubs(), rows, 1);
      q.positions = Torch.longs(s.positions(), rows, 1);
      q.segments = Torch.longs(s.segmentIds(), rows, 1);
      q.context = s.context() == null ? torch.ones(new long[] {rows, 1}, Torch.options(ScalarType.Bool))
          : Torch.longs(s.context(), rows, 1).ne(zero);
      q.sampleIds = s.sampleIds() == null ? torch.zeros(new long[] {rows, 1}, Torch.options(ScalarType.Long))
          : Torch.longs(s.sampleIds(), rows, 1);
      q.numSegments = s.numSegments() == null ? cache.lastNumSegments.unsqueeze(1) : Torch.longs(s.numSegments(), rows, 1);
      q.relOffset = s.segmentRelOffset() == null ? cache.lastRelOffset.unsqueeze(1)
          : Torch.longs(s.segmentRelOffset(), rows, 1);
      Tensor embeddings = embed(q.ids, q.subs);

      Fields k = appendKeyFields(cache, q, past, 1);
      Plan plan = plan(q, k, cache.segmentRel, Torch.keyRow(k.numSegments.ne(zero)), false, past);
      Tensor hidden = runLayers(embeddings, plan, cache).squeeze(1);
      cache.length = total;
      Tensor logits = projection(hidden, cache.extRows);
      return new CpmBeeOutput(null, Torch.keep(hidden), Torch.keep(logits));
    }
  }

  /**
   * Overwrites rows {@code [begin, end)} of every batch row of {@code embeddings} ({@code [B, L, D]},
   * in place) with {@code states} ({@code [B or 1, end - begin, D]}, cast to the embedding dtype):
   * the image positions of a chat prompt (chat.md §3).
   */
  public static void spliceImageStates(Tensor embeddings, long begin, long end, Tensor states)
      throws VisCpmException {
    if (embeddings.dim() != 3) throw new InvalidInputException("splice: embeddings must be [B, L, D]");
    long len = embeddings.size(1), dim = embeddings.size(2);
    Tensor st = states;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      if (st.dim() == 2) st = st.unsqueeze(0);
      if (st.dim() != 3 || st.size(2) != dim || begin < 0 || end > len || end - begin != st.size(1)
          || (st.size(0) != 1 && st.size(0) != embeddings.size(0))) {
        throw new InvalidInputException("splice: image bound [" + begin + ", " + end + ") does not fit image states "
            + Arrays.toString(Torch.shape(states)) + " into embeddings " + Arrays.toString(Torch.shape(embeddings)));
      }
      embeddings.narrow(1, begin, end - begin).copy_(st);
    }
  }

  // ------------------------------------------------------------------------------ building blocks

  /** Per-token fields of a set of queries or keys, {@code [B, N]} int64 (context: bool). */
  private static final class Fields {
    Tensor ids, subs, positions, context, sampleIds, numSegments, segments, relOffset, span;

    static Fields of(CpmBeeInputs in, Tensor positions, Tensor span) {
      final long b = in.rows(), len = in.length();
      Fields f = new Fields();
      f.ids = Torch.longs(in.inputIds(), b, len);
      f.subs = Torch.longs(in.inputIdSubs(), b, len);
      f.positions = positions;
      f.context = Torch.longs(in.context(), b, len).ne(new Scalar(0L));
      f.sampleIds = Torch.longs(in.sampleIds(), b, len);
      f.numSegments = Torch.longs(in.numSegments(), b, len);
      f.segments = Torch.longs(in.segmentIds(), b, len);
      f.relOffset = Torch.longs(in.segmentRelOffset(), b, len);
      f.span = span;
      return f;
    }
  }

  /** What every layer of one call shares (§5, §6). */
  private record Plan(Tensor bias, Tensor blocked, boolean hasEmptyRows, long cacheOffset) {}

  /** Writes the new tokens' key-side fields into the cache and returns the fields of all keys. */
  private static Fields appendKeyFields(KvCache cache, Fields q, int past, int len) {
    Tensor[] sources = {q.positions, q.context.to(ScalarType.Long), q.sampleIds, q.numSegments, q.segments};
    for (int i = 0; i < KvCache.NUM_FIELDS; i++) cache.field(i).narrow(1, past, len).copy_(sources[i]);
    long total = (long) past + len;
    Fields k = new Fields();
    k.positions = cache.field(KvCache.POSITION).narrow(1, 0, total);
    k.context = cache.field(KvCache.CONTEXT).narrow(1, 0, total).ne(new Scalar(0L));
    k.sampleIds = cache.field(KvCache.SAMPLE).narrow(1, 0, total);
    k.numSegments = cache.field(KvCache.NUM_SEGMENTS).narrow(1, 0, total);
    k.segments = cache.field(KvCache.SEGMENT).narrow(1, 0, total);
    return k;
  }

  /**
   * Bias {@code [B, H, Lq, T]} and blocked mask {@code [B, 1, Lq, T]} for queries q against keys
   * k (§5, §6). {@code pairValid} ({@code [B, Lq or 1, T]}) is rule 3 of §6; {@code useSpan}
   * adds the full pass's span rule to the segment bucket.
   */
  private Plan plan(Fields q, Fields k, Tensor segmentRel, Tensor pairValid, boolean useSpan, long cacheOffset)
      throws VisCpmException {
    final long b = q.positions.size(0), lq = q.positions.size(1), lk = k.positions.size(1);
    final long relWidth = segmentRel.size(1);
    // §5.1 segment bucket: relation-table entry for same-sample pairs, 1 otherwise.
    Tensor same = Torch.queryColumn(q.sampleIds).eq(Torch.keyRow(k.sampleIds));
    if (useSpan) same = same.logical_and(Torch.queryColumn(q.span).eq(Torch.keyRow(q.span)));
    Tensor other = same.logical_not();
    Tensor index = Torch.queryColumn(q.segments.mul(q.numSegments).add(q.relOffset)).add(Torch.keyRow(k.segments));
    index.masked_fill_(other, zero);  // the reference's guard against out-of-range gathers
    Tensor clamped = index.clamp(new ScalarOptional(zero), new ScalarOptional(new Scalar(relWidth - 1)));
    Tensor segmentBucket = segmentRel.gather(1, clamped.reshape(b, lq * lk)).view(b, lq, lk);
    segmentBucket.masked_fill_(other, one);
    // One host read for every range check of the call.
    double[] ranges = Torch.toDoubles(torch.stack(new TensorVector(index.min(), index.max(), segmentBucket.min(),
        segmentBucket.max())));
    if (ranges[0] < 0 || ranges[1] >= relWidth) {
      throw new InvalidInputException("CPM-Bee segment fields address segment_rel entry "
          + (long) (ranges[0] < 0 ? ranges[0] : ranges[1]) + " outside its " + relWidth
          + " entries (segment * num_segments + segment + offset)");
    }
    if (ranges[2] < 0 || ranges[3] > config.positionBiasNumSegmentBuckets()) {
      throw new InvalidInputException("CPM-Bee segment_rel holds relation bucket "
          + (long) (ranges[2] < 0 ? ranges[2] : ranges[3]) + " outside [0, " + config.positionBiasNumSegmentBuckets() + "]");
    }
    // §5.2-5.4 bucket and bias.
    Tensor relative = Torch.keyRow(k.positions).sub(Torch.queryColumn(q.positions));
    Tensor bucket = torch.where(segmentBucket.eq(zero), positionBucket(relative), segmentBucket.add(segmentBucketShift));
    Tensor bias = torch.embedding(biasTable, bucket).permute(0, 3, 1, 2).contiguous();
    // §6 mask: context rule, sample rule, validity.
    Tensor queryContext = Torch.queryColumn(q.context);
    Tensor visible = Torch.keyRow(k.context).logical_or(
        queryContext.logical_not().logical_and(Torch.keyRow(k.positions).le(Torch.queryColumn(q.positions))));
    Tensor querySample = Torch.queryColumn(q.sampleIds);
    visible = visible.logical_and(querySample.eq(zero).logical_or(querySample.eq(Torch.keyRow(k.sampleIds))));
    if (pairValid != null) visible = visible.logical_and(pairValid);
    Tensor blocked = visible.logical_not().unsqueeze(1);
    // One host read: skip every masked_fill when nothing is blocked.
    double[] flags = Torch.toDoubles(torch.stack(new TensorVector(blocked.any(), blocked.all(-1).any())));
    return new Plan(bias, flags[0] != 0 ? blocked : null, flags[1] != 0, cacheOffset);
  }

  /** key_pos - query_pos (int64, any shape) -> positional bucket (§5.3). */
  private Tensor positionBucket(Tensor relative) {
    Tensor direction = relative.gt(zero).to(ScalarType.Long).mul(bucketDirection);
    Tensor distance = relative.abs().clamp_max(maxDistance);
    return torch.index_select(distanceBuckets, 0, distance.reshape(-1)).view(Torch.shape(distance)).add(direction);
  }

  /**
   * b(a) of §5.3 for a = 0..max_distance, evaluated like the reference (fp32 log, truncation);
   * every larger distance lands on the cap, so distances are clamped to the last entry.
   */
  private static Tensor distanceBucketTable(CpmBeeConfig config) {
    final long half = config.positionBiasNumBuckets() / 2, maxExact = half / 2, maxDistance = config.positionBiasMaxDistance();
    Tensor a = torch.arange(new Scalar(maxDistance + 1), Torch.options(ScalarType.Int));
    Tensor large = torch.log(a.to(ScalarType.Float).div(new Scalar(maxExact)))
        .div(new Scalar(Math.log((double) maxDistance / (double) maxExact)))
        .mul(new Scalar(half - maxExact))
        .to(ScalarType.Int)
        .add(new Scalar(maxExact))
        .clamp_max(new Scalar(half - 1));
    return torch.where(a.lt(new Scalar(maxExact)), a, large).to(ScalarType.Long);
  }

  /** EmbeddingExt (§4.3): ids/subs int64 [B, L] -> [B, L, D]. */
  private Tensor embed(Tensor ids, Tensor subs) {
    Tensor e = torch.embedding(embedding, ids).div_(embedDivisor);
    if (e.numel() == 0 || !subs.ne(zero).any().item_bool()) return e;  // sub 0 is the identity
    return rotate(e, subs);
  }

  /** Rotates rows of x ([..., D]) by the angles 16·sub·inv_freq, split-half pairing (§4.3). */
  private Tensor rotate(Tensor x, Tensor subs) {
    final long half = config.dimModel() / 2;
    // p = r(16·sub), θ = r(p · inv_freq), then cos/sin rounded: all in the parameter dtype.
    Tensor position = subs.mul(rotaryScale).to(dtype);
    Tensor theta = position.unsqueeze(-1).mul(invFreq);
    Tensor c = theta.cos(), s = theta.sin();
    Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
    // out = x·cos + rotate(x)·sin with rotate(x) = [-x2, x1] (negation is exact).
    Tensor out1 = x1.mul(c).sub_(x2.mul(s));
    Tensor out2 = x2.mul(c).add_(x1.mul(s));
    return Torch.cat(-1, out1, out2);
  }

  /** h [..., D] -> logits [..., V + E] (§4.4); extRows [E, D] or null. */
  private Tensor projection(Tensor h, Tensor extRows) {
    Tensor logits = torch.linear(h.div(embedDivisor), embedding);
    if (extRows == null) return logits;
    // Ext rows already hold the 1/sqrt(D) scaling: h is used undivided.
    return Torch.cat(-1, logits, torch.linear(h, extRows));
  }

  /** Embeddings of the ext table (the extra logit columns), or null when it is empty. */
  private Tensor extRows(CpmBeeInputs in) {
    long n = in.extTableIds().length;
    if (n == 0) return null;
    return embed(Torch.longs(in.extTableIds(), n), Torch.longs(in.extTableSub(), n));
  }

  /** RMSNorm (§4.2): fp32 statistics, the normalised value rounded, then times the weight. */
  private Tensor rmsNorm(Tensor x, Tensor weight) {
    Tensor variance = (reduced ? x.to(ScalarType.Float) : x).pow(two).mean(new long[] {-1}, true, new ScalarTypeOptional());
    variance.add_(eps).rsqrt_();
    Tensor normalised = reduced ? x.mul(variance).to(dtype) : x.mul(variance);
    return normalised.mul_(weight);
  }

  /** Self-attention (§4.5) of normalised x [B, L, D]; new keys/values go into the cache. */
  private Tensor attention(Tensor x, Layer layer, Plan plan, KvCache cache, int layerIndex) {
    final long b = x.size(0), len = x.size(1), heads = config.numHeads(), dh = config.dimHead(), w = heads * dh;
    // One GEMM for q, k, v; each rounded, then divided by sqrt(dim_model) (step 1).
    Tensor qkv = torch.linear(x, layer.qkv).div_(qkvDivisor);
    Tensor q = qkv.narrow(-1, 0, w).view(b, len, heads, dh).transpose(1, 2);
    Tensor k = qkv.narrow(-1, w, w).view(b, len, heads, dh).transpose(1, 2);
    Tensor v = qkv.narrow(-1, 2 * w, w).view(b, len, heads, dh).transpose(1, 2);
    Tensor keys = k, values = v;
    if (cache != null) {
      long total = plan.cacheOffset() + len;
      cache.keys(layerIndex).narrow(2, plan.cacheOffset(), len).copy_(k);
      cache.values(layerIndex).narrow(2, plan.cacheOffset(), len).copy_(v);
      keys = cache.keys(layerIndex).narrow(2, 0, total);
      values = cache.values(layerIndex).narrow(2, 0, total);
    }
    // Steps 3-6: QKᵀ, / sqrt(dh), + bias, mask, softmax (fp32), mask again.
    Tensor scores = torch.matmul(q, keys.transpose(-1, -2)).div_(scoreDivisor).add_(plan.bias());
    if (plan.blocked() != null) scores.masked_fill_(plan.blocked(), negativeInfinity);
    Tensor probs = reduced ? torch.softmax(scores, -1, float32).to(dtype) : torch.softmax(scores, -1);
    if (plan.hasEmptyRows()) probs.masked_fill_(plan.blocked(), zero);
    Tensor merged = torch.matmul(probs, values).transpose(1, 2).reshape(b, len, w);
    return torch.linear(merged, layer.attentionOut).div_(attentionOutDivisor);
  }

  /** Gated-GeLU FFN (§4.6). */
  private Tensor feedForward(Tensor x, Layer layer) {
    final long f = config.dimFf();
    Tensor both = torch.linear(x, layer.ffnIn).div_(ffnInDivisor);
    Tensor gateIn = both.narrow(-1, 0, f);
    Tensor gate = reduced ? torch.gelu(gateIn.to(ScalarType.Float)).to(dtype) : torch.gelu(gateIn);
    Tensor m = gate.mul_(both.narrow(-1, f, f));
    // w_out divides its input by sqrt(dim_ff) before the GEMM (step 4).
    return torch.linear(m.div_(ffnOutDivisor), layer.ffnOut);
  }

  /** The layers (§4.7) on h (modified in place), then the output norm. */
  private Tensor runLayers(Tensor h, Plan plan, KvCache cache) {
    for (int i = 0; i < layers.length; i++) {
      Layer layer = layers[i];
      Tensor a = attention(rmsNorm(h, layer.attentionNorm), layer, plan, cache, i);
      h.add_(a).div_(residualScale);  // the sum rounded, then the division
      Tensor f = feedForward(rmsNorm(h, layer.ffnNorm), layer);
      h.add_(f).div_(residualScale);
    }
    return rmsNorm(h, outputNorm);
  }

  // ------------------------------------------------------------------------------ helpers

  private Tensor checkedEmbedding(Tensor e, long b, long len) throws VisCpmException {
    if (e.dim() != 3 || (e.size(0) != b && e.size(0) != 1) || e.size(1) != len || e.size(2) != config.dimModel()) {
      throw new InvalidInputException("CPM-Bee input_embedding must be [" + b + ", " + len + ", " + config.dimModel()
          + "], got " + Arrays.toString(Torch.shape(e)));
    }
    return e.to(dtype).expand(b, len, config.dimModel()).contiguous().clone();
  }

  private void checkIds(long[] ids, String name) throws InvalidInputException {
    for (long id : ids) {
      if (id < 0 || id >= config.vocabSize()) {
        throw new InvalidInputException("CPM-Bee input \"" + name + "\" holds token id " + id
            + " outside the vocabulary [0, " + config.vocabSize() + ")");
      }
    }
  }

  private static long[] positionsOf(int rows, int len) {
    long[] p = new long[rows * len];
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < len; i++) p[r * len + i] = i;
    }
    return p;
  }
}
