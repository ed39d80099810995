package ai.viscpm.engine.jvm.parity;

import ai.viscpm.engine.jvm.Torch;
import ai.viscpm.Checkpoint;
import ai.viscpm.FormatException;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.VisCpmException;
import ai.viscpm.engine.jvm.Beit3Config;
import ai.viscpm.engine.jvm.BeamSearch;
import ai.viscpm.engine.jvm.ChatPrompt;
import ai.viscpm.engine.jvm.ChatTurn;
import ai.viscpm.engine.jvm.CpmBee;
import ai.viscpm.engine.jvm.CpmBeeInputs;
import ai.viscpm.engine.jvm.CpmBeeOutput;
import ai.viscpm.engine.jvm.ImagePreprocess;
import ai.viscpm.engine.jvm.JvmChatModel;
import ai.viscpm.engine.jvm.KvCache;
import ai.viscpm.engine.jvm.NoiseSource;
import ai.viscpm.engine.jvm.PaintPipeline;
import ai.viscpm.engine.jvm.PaintPrompt;
import ai.viscpm.engine.jvm.Scheduler;
import ai.viscpm.engine.jvm.SchedulerConfig;
import ai.viscpm.engine.jvm.StepInputs;
import ai.viscpm.engine.jvm.TransBlock;
import ai.viscpm.engine.jvm.Unet;
import ai.viscpm.engine.jvm.UnetConfig;
import ai.viscpm.engine.jvm.VaeDecoder;
import ai.viscpm.engine.jvm.VisionEncoder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The golden-case runner of the JVM engine: every case of a fixtures folder whose kind the
 * JVM engine implements is computed through it, as native/testkit/kinds/*.cpp computes it
 * for the native engine, and compared with the manifest's tolerances by the same rules
 * ({@link GoldenCase}); other kinds are SKIP ("not implemented in the JVM engine"). A case
 * that throws is a FAIL with the message. Models are loaded once per runner (float32, CPU)
 * and freed by {@link #close()}.
 */
public final class JvmParity implements AutoCloseable {
  /** One case of the manifest. */
  public record CaseEntry(int index, String name, String kind) {}

  @FunctionalInterface
  private interface Kind {
    void run(JvmParity suite, GoldenCase c) throws Exception;
  }

  private static final Map<String, Kind> KINDS = new LinkedHashMap<>();

  static {
    KINDS.put("image_preprocess", JvmParity::imagePreprocess);
    KINDS.put("beit3_forward", JvmParity::beit3Forward);
    KINDS.put("cpmbee_forward", JvmParity::cpmbeeForward);
    KINDS.put("cpmbee_incremental", JvmParity::cpmbeeIncremental);
    KINDS.put("chat_input", JvmParity::chatInput);
    KINDS.put("chat_beam_search", JvmParity::chatBeamSearch);
    KINDS.put("trans_block", JvmParity::transBlock);
    KINDS.put("unet_forward", JvmParity::unetForward);
    KINDS.put("vae_decode", JvmParity::vaeDecode);
    KINDS.put("scheduler", JvmParity::scheduler);
    KINDS.put("paint_input", JvmParity::paintInput);
    KINDS.put("paint_pipeline", JvmParity::paintPipeline);
  }

  private final Path root;
  private final JsonNode manifest;
  private final List<CaseEntry> cases = new ArrayList<>();
  private final Map<String, AutoCloseable> models = new LinkedHashMap<>();

  private JvmParity(Path root, JsonNode manifest) {
    this.root = root;
    this.manifest = manifest;
    int i = 0;
    for (JsonNode c : manifest.path("cases")) {
      cases.add(new CaseEntry(i++, c.path("name").asText("?"), c.path("kind").asText("?")));
    }
  }

  /** Opens a fixtures folder (its manifest.json). */
  public static JvmParity open(Path fixtures) throws VisCpmException {
    Path manifest = fixtures.resolve("manifest.json");
    if (!Files.isRegularFile(manifest)) {
      throw new ResourceNotFoundException("no manifest.json in " + fixtures + " (is this a fixtures folder?)");
    }
    JsonNode json;
    try {
      json = new ObjectMapper().readTree(manifest.toFile());
    } catch (IOException e) {
      throw new FormatException(manifest + ": " + e.getMessage());
    }
    if (!json.path("cases").isArray()) throw new FormatException(manifest + " has no \"cases\" list");
    return new JvmParity(fixtures.toAbsolutePath().normalize(), json);
  }

  /** The case kinds the JVM engine implements. */
  public static List<String> implementedKinds() {
    return List.copyOf(KINDS.keySet());
  }

  public List<CaseEntry> cases() {
    return List.copyOf(cases);
  }

  /** Runs case {@code index} (manifest order). */
  public ParityReport run(int index) {
    CaseEntry e = cases.get(index);
    Kind kind = KINDS.get(e.kind());
    if (kind == null) {
      return new ParityReport(e.name(), e.kind(), ParityReport.Status.SKIP, "not implemented in the JVM engine", 0,
          List.of());
    }
    long start = System.nanoTime();
    List<ParityReport.Check> checks;
    GoldenCase c = null;
    try {
      c = new GoldenCase(root, manifest, manifest.path("cases").get(index));
      try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
        kind.run(this, c);
      }
      checks = c.checks();
    } catch (Exception | LinkageError ex) {
      List<ParityReport.Check> done = new ArrayList<>(c == null ? List.of() : c.checks());
      String message = ex.getMessage() == null ? ex.getClass().getName() : ex.getMessage();
      done.add(new ParityReport.Check("error", false, 0, "", message));
      checks = done;
    } finally {
      if (c != null) c.close();
    }
    return ParityReport.of(e.name(), e.kind(), checks, (System.nanoTime() - start) / 1e9);
  }

  /** Runs every case. */
  public List<ParityReport> runAll() {
    List<ParityReport> out = new ArrayList<>();
    for (CaseEntry e : cases) out.add(run(e.index()));
    return out;
  }

  @FunctionalInterface
  private interface Loader<T extends AutoCloseable> {
    T load() throws Exception;
  }

  @SuppressWarnings("unchecked")
  private <T extends AutoCloseable> T cached(String key, Loader<T> loader) throws Exception {
    AutoCloseable m = models.get(key);
    if (m == null) {
      m = loader.load();
      models.put(key, m);
    }
    return (T) m;
  }

  @Override
  public void close() {
    List<AutoCloseable> all = new ArrayList<>(models.values());
    models.clear();
    for (int i = all.size() - 1; i >= 0; i--) {
      try {
        all.get(i).close();
      } catch (Exception ignored) {
        // closing a model does not fail
      }
    }
  }

  // ------------------------------------------------------------------------------ kinds

  /** native/testkit/kinds/image_preprocess.cpp. */
  private static void imagePreprocess(JvmParity s, GoldenCase c) throws Exception {
    JsonNode in = c.inputsJson();
    int size = in.path("input_size").asInt(224);
    ImagePreprocess.Rgb image = ImagePreprocess.read(c.inputFile(in.path("image").asText("image.png")));
    Tensor pixels = ImagePreprocess.pixelValues(image, size, new double[] {0.5, 0.5, 0.5}, new double[] {0.5, 0.5, 0.5});
    c.compare("pixel_values", pixels.squeeze(0));
  }

  /** native/testkit/kinds/beit3_forward.cpp. */
  private static void beit3Forward(JvmParity s, GoldenCase c) throws Exception {
    try (Checkpoint checkpoint = Checkpoint.open(c.checkpoint());
        VisionEncoder encoder = VisionEncoder.load(Beit3Config.load(c.modelConfig("beit3_config", "beit3.json")),
            checkpoint, ScalarType.Float)) {
      Tensor queries = encoder.encode(c.inputTensor("pixel_values"));
      c.compare("vision_query_outputs", queries);
      Tensor mapped = encoder.map(queries);
      c.compare("mapped", mapped);
      mapped.close();
      queries.close();
    }
  }

  private static CpmBee cpmBee(JvmParity s, GoldenCase c) throws Exception {
    String prefix = c.params().path("checkpoint_prefix").asText("llm.");
    Path config = c.cpmBeeConfig(), checkpoint = c.checkpoint();
    return s.cached("cpmbee|" + config + "|" + checkpoint + "|" + prefix, () -> CpmBee.load(config, checkpoint, prefix));
  }

  private static CpmBeeInputs forwardInputs(GoldenCase c, String prefix, String positions, String sampleIds,
      String extIds, String extSubs, boolean fullPass) throws Exception {
    long[] shape = c.inputShape(prefix + "input_ids");
    int rows = Math.toIntExact(shape[0]), length = Math.toIntExact(shape[1]);
    long[] relShape = c.inputShape(prefix + "segment_rel");
    return new CpmBeeInputs(rows, length,
        c.inputLongs(prefix + "input_ids"),
        c.inputLongs(prefix + "input_id_subs"),
        positions == null ? null : c.inputLongs(prefix + positions),
        c.inputLongs(prefix + "context"),
        c.inputLongs(prefix + sampleIds),
        c.inputLongs(prefix + "num_segments"),
        c.inputLongs(prefix + "segment_ids"),
        c.inputLongs(prefix + "segment_rel_offset"),
        c.inputLongs(prefix + "segment_rel"),
        Math.toIntExact(relShape[1]),
        c.inputLongs(prefix + extIds),
        c.inputLongs(prefix + extSubs),
        fullPass && c.hasInput(prefix + "length") ? c.inputLongs(prefix + "length") : null,
        fullPass && c.hasInput(prefix + "span") ? c.inputLongs(prefix + "span") : null);
  }

  /** native/testkit/kinds/cpmbee_forward.cpp. */
  private static void cpmbeeForward(JvmParity s, GoldenCase c) throws Exception {
    CpmBee bee = cpmBee(s, c);
    CpmBeeInputs in = forwardInputs(c, "", null, "sample_ids", "ext_table_ids", "ext_table_sub", true);
    try (CpmBeeOutput out = bee.forward(in, null, CpmBee.Logits.ALL)) {
      Tensor logits = out.logits();
      long[] columnIds = c.expectedLongs("logits_columns");
      Tensor columns = Torch.longs(columnIds, columnIds.length);
      c.compare("input_embedding", out.inputEmbedding());
      c.compare("hidden_states", out.hiddenStates());
      c.compare("logits_columns", columns);  // the fixture's choice of columns, used as given
      c.compare("logits_at_columns", logits.index_select(-1, columns));
      c.compare("logits_logsumexp", torch.logsumexp(logits, -1));
      c.compare("logits_argmax", logits.argmax(new LongOptional(-1), false));
      c.compare("logits_last2", logits.narrow(1, logits.size(1) - 2, 2));
    }
  }

  /** native/testkit/kinds/cpmbee_incremental.cpp. */
  private static void cpmbeeIncremental(JvmParity s, GoldenCase c) throws Exception {
    CpmBee bee = cpmBee(s, c);
    CpmBeeInputs prompt = forwardInputs(c, "prompt.", "input_pos", "sample_idx", "batch_ext_table_ids",
        "batch_ext_table_sub", false);
    long[] bound = c.inputLongs("prompt.image_bound");
    long[] stepIds = c.inputLongs("step_token_ids"), stepSubs = c.inputLongs("step_token_subs");
    long answerSegment = c.params().path("answer_segment_id").asLong();
    JsonNode stepPositions = c.params().path("step_positions");
    int len = prompt.length(), steps = stepIds.length;
    if (stepPositions.size() != steps) throw new FormatException("params.step_positions and step_token_ids differ in length");

    // Prefill with the image states spliced into the prompt embedding.
    Tensor embedding = bee.embed(prompt.inputIds(), prompt.inputIdSubs(), 1, len);
    CpmBee.spliceImageStates(embedding, bound[0], bound[1], c.inputTensor("vision_hidden_states"));
    try (KvCache cache = bee.newCache(1, len + steps)) {
      try (CpmBeeOutput prefill = bee.prefill(prompt, cache, embedding, CpmBee.Logits.LAST)) {
        c.compare("prefill_input_embedding", prefill.inputEmbedding());
        c.compare("prefill_hidden_states", prefill.hiddenStates());
        c.compare("prefill_logits_last", prefill.logits());
      }
      // One token at a time (context 1, sample 0, the last prompt token's num_segments/offset).
      CpmBeeOutput[] outs = new CpmBeeOutput[steps];
      Tensor[] hidden = new Tensor[steps], logits = new Tensor[steps];
      try {
        for (int i = 0; i < steps; i++) {
          outs[i] = bee.step(StepInputs.of(new long[] {stepIds[i]}, new long[] {stepSubs[i]},
              new long[] {stepPositions.get(i).asLong()}, new long[] {answerSegment}), cache);
          hidden[i] = outs[i].hiddenStates();
          logits[i] = outs[i].logits();
        }
        c.compare("step_hidden_states", Torch.cat(0, hidden));
        c.compare("step_logits", Torch.cat(0, logits));
      } finally {
        for (CpmBeeOutput o : outs) {
          if (o != null) o.close();
        }
      }
    }

    // The full forward over prompt + steps, the steps as non-context answer tokens.
    int total = len + steps;
    int last = len - 1;
    CpmBeeInputs full = new CpmBeeInputs(1, total, append(prompt.inputIds(), stepIds),
        append(prompt.inputIdSubs(), stepSubs), null,
        append(prompt.context(), new long[steps]),
        append(prompt.sampleIds(), new long[steps]),
        append(prompt.numSegments(), repeat(prompt.numSegments()[last], steps)),
        append(prompt.segmentIds(), repeat(answerSegment, steps)),
        append(prompt.segmentRelOffset(), repeat(prompt.segmentRelOffset()[last], steps)),
        prompt.segmentRel(), prompt.segmentRelWidth(), prompt.extTableIds(), prompt.extTableSub(), null, null);
    Tensor stepEmbedding = bee.embed(stepIds, stepSubs, 1, steps);
    Tensor fullEmbedding = Torch.cat(1, embedding, stepEmbedding);
    stepEmbedding.close();
    try (CpmBeeOutput forward = bee.forward(full, fullEmbedding, CpmBee.Logits.ALL)) {
      long[] columnIds = c.expectedLongs("logits_columns");
      Tensor columns = Torch.longs(columnIds, columnIds.length);
      c.compare("logits_columns", columns);
      c.compare("full_forward_hidden_states", forward.hiddenStates().narrow(1, len, steps));
      c.compare("full_forward_logits_at_columns",
          forward.logits().select(0, 0).narrow(0, len, steps).index_select(-1, columns));
    }
    embedding.close();
  }

  /** The manifest's vocabulary, loaded once per runner. */
  private static ai.viscpm.text.Tokenizer tokenizer(JvmParity s, GoldenCase c) throws Exception {
    JsonNode vocab = c.params().path("vocab").isTextual() ? c.params().path("vocab") : c.manifest().path("vocab");
    if (!vocab.isTextual()) throw new FormatException("manifest names no vocab");
    Path path = c.resolve(vocab.asText());
    return s.cached("tokenizer|" + path, () -> ai.viscpm.text.Tokenizer.load(path));
  }

  /**
   * native/testkit/kinds/chat_input.cpp: the structured input of one chat turn through
   * {@link ChatPrompt}, the raw conversion and the batch-1 model inputs.
   */
  private static void chatInput(JvmParity s, GoldenCase c) throws Exception {
    ai.viscpm.text.Tokenizer tokenizer = tokenizer(s, c);
    JsonNode in = c.inputsJson();
    int queryNum = in.path("query_num").asInt();
    String context = in.path("context").asText(), question = in.path("question").asText();
    JsonNode limit = in.path("max_inp_length");
    int maxInputLength = limit.isNumber() ? limit.asInt() : Integer.MAX_VALUE;
    ChatPrompt p = ChatPrompt.build(tokenizer, queryNum, context, question, maxInputLength);
    ChatPrompt.Raw raw = p.raw();
    CpmBeeInputs m = p.inputs();
    long n = raw.inputIds().length, l = m.length();
    Map<String, Tensor> produced = new LinkedHashMap<>();
    produced.put("raw.input_ids", Torch.longs(raw.inputIds(), n));
    produced.put("raw.input_id_subs", Torch.longs(raw.inputIdSubs(), n));
    produced.put("raw.context", Torch.longs(raw.context(), n));
    produced.put("raw.segment_ids", Torch.longs(raw.segmentIds(), n));
    produced.put("raw.segment_rel", Torch.longs(raw.segmentRel(), raw.segmentRel().length));
    produced.put("raw.image_bound", Torch.longs(new long[] {p.imageBegin(), p.imageEnd()}, 1, 2));
    produced.put("model.input_ids", Torch.longs(m.inputIds(), 1, l));
    produced.put("model.input_id_subs", Torch.longs(m.inputIdSubs(), 1, l));
    produced.put("model.input_pos", Torch.longs(m.positions(), 1, l));
    produced.put("model.context", Torch.longs(m.context(), 1, l));
    produced.put("model.sample_idx", Torch.longs(m.sampleIds(), 1, l));
    produced.put("model.num_segments", Torch.longs(m.numSegments(), 1, l));
    produced.put("model.segment_ids", Torch.longs(m.segmentIds(), 1, l));
    produced.put("model.segment_rel_offset", Torch.longs(m.segmentRelOffset(), 1, l));
    produced.put("model.segment_rel", Torch.longs(m.segmentRel(), 1, m.segmentRelWidth()));
    produced.put("model.batch_ext_table_ids", Torch.longs(m.extTableIds(), m.extTableIds().length));
    produced.put("model.batch_ext_table_sub", Torch.longs(m.extTableSub(), m.extTableSub().length));
    produced.put("model.image_bound", Torch.longs(new long[] {p.imageBegin(), p.imageEnd()}, 1, 1, 2));
    for (String name : c.expectedNames()) {
      Tensor t = produced.get(name);
      if (t == null) c.fail(name, "expected tensor '" + name + "' was not produced");
      else c.compare(name, t);
    }

    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode data = f.objectNode();
    data.put("image", "<unk>".repeat(queryNum));
    data.put("context", context);
    data.put("question", question);
    data.put("<ans>", "");
    ObjectNode rawData = data.deepCopy();
    rawData.put("<ans>", "<ans_1>");
    ObjectNode ext = f.objectNode();
    raw.extTable().forEach((id, word) -> ext.put(Long.toString(id), word));
    ObjectNode classes = f.objectNode();
    raw.tokenClasses().forEach((cls, subs) -> {
      ObjectNode o = classes.putObject(cls);
      subs.forEach((id, sub) -> o.put(Long.toString(id), sub));
    });
    ObjectNode rawNode = f.objectNode();
    rawNode.set("data", rawData);
    rawNode.put("num_segments", raw.numSegments());
    rawNode.set("ext_table", ext);
    rawNode.set("token_id_table", classes);
    ObjectNode other = f.objectNode();
    ArrayNode predict = other.putArray("predict_segments");
    predict.addArray().add(p.answerSegment()).add(1);
    other.putArray("answer_placeholders").addArray();  // the one answer leaf, at the empty path
    ObjectNode decoding = other.putObject("ext_table");
    p.decodingTable().forEach((id, word) -> decoding.put(Long.toString(id), word));
    ObjectNode actual = f.objectNode();
    actual.set("data", data);
    actual.set("raw", rawNode);
    actual.set("other_info", other);
    c.compareJson("json", actual, c.expectedJson());
  }

  /** native/testkit/kinds/chat_beam_search.cpp: turns of one session, the search traced. */
  private static void chatBeamSearch(JvmParity s, GoldenCase c) throws Exception {
    Path cpmBeeConfig = c.modelConfig("cpm_bee_config", "cpm-bee.json");
    Path beit3Config = c.modelConfig("beit3_config", "beit3.json");
    Path checkpoint = c.checkpoint();
    JsonNode vocab = c.manifest().path("vocab");
    if (!vocab.isTextual()) throw new FormatException("manifest names no vocab");
    Path vocabulary = c.resolve(vocab.asText());
    JvmChatModel model = s.cached("chat|" + checkpoint + "|" + cpmBeeConfig + "|" + beit3Config + "|" + vocabulary,
        () -> JvmChatModel.load(cpmBeeConfig, beit3Config, checkpoint, vocabulary, ScalarType.Float));
    JsonNode in = c.inputsJson(), params = c.params();
    BeamSearch.Settings reference = BeamSearch.Settings.reference();
    int maxLength = in.has("max_length") ? in.get("max_length").asInt() : params.path("max_length").asInt(reference.maxLength());
    BeamSearch.Settings settings = new BeamSearch.Settings(params.path("beam_size").asInt(reference.beamSize()),
        maxLength, params.path("temperature").asDouble(reference.temperature()),
        params.path("repetition_penalty").asDouble(reference.repetitionPenalty()),
        params.path("length_penalty").asDouble(reference.lengthPenalty()));
    int maxInputLength = params.path("max_inp_length").asInt(3000);

    JsonNodeFactory f = JsonNodeFactory.instance;
    ArrayNode turns = f.arrayNode();
    try (ChatTurn.Session session = model.newSession(c.inputFile(in.path("image").asText()), in.path("context").asText(""))) {
      c.compare("vision_hidden_states", session.visionStates().to(ScalarType.Float));
      for (JsonNode q : in.path("questions")) {
        BeamSearch.Trace trace = new BeamSearch.Trace();
        ChatTurn turn = session.ask(q.asText(), settings, maxInputLength, trace, null);
        ObjectNode t = f.objectNode();
        t.put("question", q.asText());
        t.put("context_in", turn.contextBefore());
        t.put("answer", turn.answer());
        t.put("context_out", turn.contextAfter());
        t.set("prompt_input_ids", ints(Arrays.stream(turn.promptIds()).asLongStream().toArray()));
        t.set("best_hypothesis_token_ids", ints(Arrays.stream(turn.result().tokenIds()).asLongStream().toArray()));
        ArrayNode steps = f.arrayNode();
        for (BeamSearch.Trace.Step st : trace.steps) {
          ObjectNode o = f.objectNode();
          o.put("i", st.i());
          o.set("beam_scores", doubles(st.beamScores()));
          o.set("fed_token_ids", ints(st.tokenIds()));
          o.set("fed_token_subs", ints(st.tokenSubs()));
          o.set("fed_positions", ints(st.positions()));
          o.set("fed_segments", ints(st.segments()));
          steps.add(o);
        }
        ArrayNode topk = f.arrayNode();
        for (BeamSearch.Trace.TopK k : trace.topk) {
          ObjectNode o = f.objectNode();
          o.put("i", k.i());
          o.set("scores", doubles(k.scores()));
          o.set("flat_ids", ints(k.flatIds()));
          o.put("min_gap", k.minGap());
          topk.add(o);
        }
        ArrayNode hypotheses = f.arrayNode();
        for (BeamSearch.Trace.Hypothesis h : trace.hypothesesAdded) {
          ObjectNode o = f.objectNode();
          o.put("i", h.i());
          o.set("token_ids", ints(h.tokenIds()));
          o.put("sum_logprobs", h.sumLogprobs());
          o.put("score", h.score());
          hypotheses.add(o);
        }
        t.set("steps", steps);
        t.set("topk", topk);
        t.set("hypotheses_added", hypotheses);
        t.put("used_vision_hidden_states_from_previous_turn", !turn.encodedImage());
        turns.add(t);
      }
    }
    ObjectNode actual = f.objectNode();
    actual.set("turns", turns);
    c.compareJson("json", actual, c.expectedJson());
  }

  private static ArrayNode ints(long[] values) {
    ArrayNode a = JsonNodeFactory.instance.arrayNode();
    for (long v : values) a.add(v);
    return a;
  }

  private static ArrayNode doubles(double[] values) {
    ArrayNode a = JsonNodeFactory.instance.arrayNode();
    for (double v : values) a.add(v);
    return a;
  }

  /** native/testkit/kinds/trans_block.cpp. */
  private static void transBlock(JvmParity s, GoldenCase c) throws Exception {
    try (Checkpoint checkpoint = Checkpoint.open(c.checkpoint());
        TransBlock block = TransBlock.load(checkpoint, c.params().path("checkpoint_prefix").asText("trans_block."),
            ScalarType.Float)) {
      for (String which : new String[] {"cond", "uncond"}) {
        Tensor out = block.forward(c.inputTensor(which + "_hidden_states"));
        c.compare(which + "_out", out);
        out.close();
      }
    }
  }

  /** native/testkit/kinds/unet_forward.cpp. */
  private static void unetForward(JvmParity s, GoldenCase c) throws Exception {
    try (Checkpoint checkpoint = Checkpoint.open(c.checkpoint());
        Unet unet = Unet.load(UnetConfig.load(c.paramPath("unet_config", "unet_config")), checkpoint,
            c.params().path("checkpoint_prefix").asText("unet."), ScalarType.Float)) {
      Tensor noise = unet.forward(c.inputTensor("latent_model_input"), c.inputTensor("timestep"),
          c.inputTensor("encoder_hidden_states"));
      c.compare("noise_pred", noise);
      // The reference pipeline's expression and order (float32): u + g * (c - u).
      double guidance = c.params().path("guidance_scale").asDouble(7.5);
      long half = noise.size(0) / 2;
      Tensor uncond = noise.narrow(0, 0, half), cond = noise.narrow(0, half, half);
      c.compare("guided_noise_pred", uncond.add(cond.sub(uncond).mul(new Scalar(guidance))));
      noise.close();
    }
  }

  /** native/testkit/kinds/vae_decode.cpp. */
  private static void vaeDecode(JvmParity s, GoldenCase c) throws Exception {
    try (VaeDecoder vae = VaeDecoder.load(c.paramPath("vae_dir", "vae_dir"), ScalarType.Float)) {
      Tensor latents = c.inputTensor("latents");
      Tensor sample;
      if (c.params().has("scaling_factor")) {
        float inverse = (float) (1.0 / c.params().get("scaling_factor").asDouble());
        sample = vae.decode(latents.mul(new Scalar((double) inverse)));
      } else {
        sample = vae.decodeLatents(latents);
      }
      Tensor image = VaeDecoder.toImageFloat(sample);
      Tensor bytes = VaeDecoder.toUint8(image);
      c.compare("decoder_sample", sample);
      c.compare("image_float", image);
      c.compare("image_uint8", bytes);
      bytes.close();
      image.close();
      sample.close();
    }
  }

  /**
   * native/testkit/kinds/scheduler.cpp: {@code Class.from_config}, {@code set_timesteps(n)},
   * then {@code num_steps_run} rounds of (scale_model_input, step) on the recorded model
   * outputs with one CPU generator seeded with {@code generator_seed}; every normal draw is
   * recorded and compared.
   */
  private static void scheduler(JvmParity s, GoldenCase c) throws Exception {
    JsonNode params = c.params();
    SchedulerConfig config = SchedulerConfig.load(c.paramPath("config", "scheduler_config"));
    String className = params.path("scheduler_class").asText();
    Generator generator = NoiseSource.cpuGenerator(params.path("generator_seed").asLong());
    try (Scheduler scheduler = Scheduler.create(className, config);
        NoiseSource.Recording noise = new NoiseSource.Recording(NoiseSource.generator(generator))) {
      scheduler.setTimesteps(params.path("num_inference_steps").asInt());
      c.compare("timesteps", scheduler.timesteps());
      float[] alphas = scheduler.alphasCumprod();
      c.compare("alphas_cumprod", Torch.floats(alphas, alphas.length));
      if (c.hasExpected("sigmas")) {
        float[] sigmas = scheduler.sigmas();
        if (sigmas == null) throw new FormatException(className + " has no sigmas");
        c.compare("sigmas", Torch.floats(sigmas, sigmas.length));
      }
      Tensor sample = c.inputTensor("sample");
      Tensor modelOutputs = c.inputTensor("model_outputs");
      int stepsRun = params.has("num_steps_run") ? params.get("num_steps_run").asInt() : (int) modelOutputs.size(0);
      double[] timesteps = scheduler.timestepValues();
      if (stepsRun > modelOutputs.size(0) || stepsRun > timesteps.length) {
        throw new FormatException("num_steps_run " + stepsRun + " exceeds the model outputs / timesteps");
      }
      List<Tensor> scaled = new ArrayList<>(), prev = new ArrayList<>(), predOriginal = new ArrayList<>();
      for (int i = 0; i < stepsRun; i++) {
        double t = timesteps[i];
        scaled.add(scheduler.scaleModelInput(sample, t));
        Scheduler.StepOutput out = scheduler.step(modelOutputs.select(0, i), t, sample, noise);
        prev.add(out.prevSample());
        if (out.predOriginalSample() != null) predOriginal.add(out.predOriginalSample());
        sample = out.prevSample();
      }
      c.compare("scaled_model_inputs", stack(scaled));
      c.compare("prev_samples", stack(prev));
      if (c.hasExpected("pred_original_samples")) {
        if (predOriginal.size() != prev.size()) throw new FormatException(className + " returned no pred_original_sample");
        c.compare("pred_original_samples", stack(predOriginal));
      }
      if (c.hasExpected("generator_noise_draws")) {
        if (noise.draws().isEmpty()) throw new FormatException(className + " drew no noise");
        c.compare("generator_noise_draws", stack(noise.draws()));
      }
      JsonNodeFactory json = JsonNodeFactory.instance;
      ObjectNode actual = json.objectNode();
      actual.set("effective_config", scheduler.effectiveConfig());
      ArrayNode ignored = actual.putArray("ignored_config_keys");
      scheduler.ignoredConfigKeys().forEach(ignored::add);
      actual.put("init_noise_sigma", scheduler.initNoiseSigma());
      if (scheduler.numTrainTimesteps() >= 50) {
        try (Scheduler fresh = Scheduler.create(className, config)) {
          fresh.setTimesteps(50);
          ArrayNode list = actual.putArray("timesteps_50");
          for (double t : fresh.timestepValues()) {
            if (fresh.integerTimesteps()) list.add((long) t);
            else list.add(t);
          }
        }
      }
      actual.put("num_generator_draws", noise.draws().size());
      c.compareJson("json", actual, c.expectedJson());
      for (Tensor t : scaled) t.close();
      for (Tensor t : prev) t.close();
      for (Tensor t : predOriginal) t.close();
    } finally {
      generator.close();
    }
  }

  private static Tensor stack(List<Tensor> tensors) {
    return torch.stack(new TensorVector(tensors.toArray(new Tensor[0])), 0);
  }

  /** native/testkit/kinds/paint_input.cpp, through {@link PaintPrompt}. */
  private static void paintInput(JvmParity s, GoldenCase c) throws Exception {
    JsonNode vocab = c.manifest().path("vocab");
    if (!vocab.isTextual()) throw new FormatException("manifest names no vocab");
    try (ai.viscpm.text.Tokenizer tokenizer = ai.viscpm.text.Tokenizer.load(c.resolve(vocab.asText()))) {
      JsonNode in = c.inputsJson();
      JsonNode negative = in.path("negative_prompt");
      PaintPrompt p = PaintPrompt.build(tokenizer, in.path("prompt").asText(), negative.isTextual() ? negative.asText() : "");
      for (String prefix : new String[] {"cond.", "uncond."}) {
        CpmBeeInputs f = prefix.equals("cond.") ? p.cond() : p.uncond();
        long l = f.length();
        c.compare(prefix + "input_ids", Torch.longs(f.inputIds(), 1, l));
        c.compare(prefix + "input_id_subs", Torch.longs(f.inputIdSubs(), 1, l));
        c.compare(prefix + "context", Torch.longs(f.context(), 1, l));
        c.compare(prefix + "segment_ids", Torch.longs(f.segmentIds(), 1, l));
        c.compare(prefix + "segment_rel_offset", Torch.longs(f.segmentRelOffset(), 1, l));
        c.compare(prefix + "segment_rel", Torch.longs(f.segmentRel(), 1, f.segmentRelWidth()));
        c.compare(prefix + "sample_ids", Torch.longs(f.sampleIds(), 1, l));
        c.compare(prefix + "num_segments", Torch.longs(f.numSegments(), 1, l));
        c.compare(prefix + "length", Torch.longs(f.lengths(), 1));
        c.compare(prefix + "span", Torch.longs(f.span(), 1, l));
        c.compare(prefix + "ext_table_ids", Torch.longs(f.extTableIds(), f.extTableIds().length));
        c.compare(prefix + "ext_table_sub", Torch.longs(f.extTableSub(), f.extTableSub().length));
        c.compare(prefix + "image_bound", Torch.longs(new long[0], 1, 0, 2));  // no image segment in a paint prompt
      }
    }
  }

  /**
   * native/testkit/kinds/paint_pipeline.cpp through {@link PaintPipeline}: the whole
   * VisCPM-Paint path with one CPU generator seeded with the case's seed and DDPM.
   */
  private static void paintPipeline(JvmParity s, GoldenCase c) throws Exception {
    JsonNode vocab = c.params().path("vocab").isTextual() ? c.params().path("vocab") : c.manifest().path("vocab");
    try (PaintPipeline pipeline = PaintPipeline.load(c.checkpoint(), c.cpmBeeConfig(), c.resolve(vocab.asText()),
            c.modelConfig("unet_config", "stabilityai/stable-diffusion-2-1-base/unet/config.json"),
            c.modelConfig("vae_dir", "stabilityai/stable-diffusion-2-1-base/vae"),
            c.modelConfig("scheduler_config", "stabilityai/stable-diffusion-2-1-base/scheduler/scheduler_config.json"));
        PaintPipeline.Trace trace = new PaintPipeline.Trace()) {
      JsonNode in = c.inputsJson();
      JsonNode negative = in.path("negative_prompt");
      int size = in.path("image_size").asInt();
      PaintPipeline.Request request = new PaintPipeline.Request(in.path("prompt").asText(),
          negative.isTextual() ? negative.asText() : "", in.path("guidance_scale").asDouble(),
          in.path("num_inference_steps").asInt(), size, size, in.path("seed").asLong(), 1, "ddpm");
      Tensor images = pipeline.generate(request, trace);
      Tensor image = images.size(0) == 1 ? images.select(0, 0) : images;  // the fixture stores one image unbatched
      c.compare("cond_hidden_states", trace.condHiddenStates);
      if (c.hasExpected("uncond_hidden_states")) c.compare("uncond_hidden_states", trace.uncondHiddenStates);
      c.compare("unet_encoder_hidden_states", trace.encoderHiddenStates);
      c.compare("initial_latents", trace.initialLatents);
      long[] timesteps = new long[trace.timesteps.length];
      for (int i = 0; i < timesteps.length; i++) timesteps[i] = (long) trace.timesteps[i];
      c.compare("timesteps", Torch.longs(timesteps, timesteps.length));
      c.compare("unet_inputs", stack(trace.unetInputs));
      c.compare("unet_outputs", stack(trace.unetOutputs));
      c.compare("latents_after_step", stack(trace.latentsAfterStep));
      if (c.hasExpected("ddpm_noise_draws")) c.compare("ddpm_noise_draws", stack(trace.schedulerNoise));
      c.compare("image_uint8", image);
      ObjectNode actual = JsonNodeFactory.instance.objectNode();
      actual.putNull("nsfw_content_detected");  // no image safety checker in this engine
      actual.put("num_ddpm_noise_draws", trace.schedulerNoise.size());
      ArrayNode shape = actual.putArray("image_size");
      for (long d : Torch.shape(image)) shape.add(d);
      c.compareJson("json", actual, c.expectedJson());
      images.close();
    }
  }

  private static long[] append(long[] head, long[] tail) {
    long[] out = Arrays.copyOf(head, head.length + tail.length);
    System.arraycopy(tail, 0, out, head.length, tail.length);
    return out;
  }

  private static long[] repeat(long value, int n) {
    long[] out = new long[n];
    Arrays.fill(out, value);
    return out;
  }
}
