package ai.viscpm.engine.jvm;

import ai.viscpm.FormatException;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Set;

/**
 * CPM-Bee configuration, the schema of VisCPM's {@code config/cpm-bee-10b.json} (cpmbee.md §1).
 * Parsed with the native loader's rules: the size fields are required (the reference
 * constructor's defaults differ from the 10B values), unknown keys and wrong types are errors.
 */
public record CpmBeeConfig(
    long vocabSize,
    long dimModel,
    long numHeads,
    long dimHead,
    long dimFf,
    long numLayers,
    double dropoutP,
    long positionBiasNumBuckets,
    long positionBiasNumSegmentBuckets,
    long positionBiasMaxDistance,
    double eps,
    boolean half) {

  private static final Set<String> KNOWN = Set.of("vocab_size", "dim_model", "num_heads", "dim_head", "dim_ff",
      "num_layers", "dropout_p", "position_bias_num_buckets", "position_bias_num_segment_buckets",
      "position_bias_max_distance", "eps", "half", "mask_modules");

  public CpmBeeConfig {
    positive("vocab_size", vocabSize);
    positive("dim_model", dimModel);
    positive("num_heads", numHeads);
    positive("dim_head", dimHead);
    positive("dim_ff", dimFf);
    positive("num_layers", numLayers);
    positive("position_bias_num_buckets", positionBiasNumBuckets);
    positive("position_bias_num_segment_buckets", positionBiasNumSegmentBuckets);
    positive("position_bias_max_distance", positionBiasMaxDistance);
    if (dimModel % 2 != 0) throw new IllegalArgumentException("\"dim_model\" must be even (rotary embedding), got " + dimModel);
    if (positionBiasNumBuckets % 4 != 0) {
      throw new IllegalArgumentException("\"position_bias_num_buckets\" must be a multiple of 4, got " + positionBiasNumBuckets);
    }
    if (positionBiasMaxDistance <= positionBiasNumBuckets / 4) {
      throw new IllegalArgumentException("\"position_bias_max_distance\" (" + positionBiasMaxDistance
          + ") must exceed position_bias_num_buckets / 4 (" + positionBiasNumBuckets / 4 + ")");
    }
    if (!(eps > 0)) throw new IllegalArgumentException("\"eps\" must be positive");
    if (!(dropoutP >= 0 && dropoutP < 1)) throw new IllegalArgumentException("\"dropout_p\" must be in [0, 1)");
  }

  private static void positive(String name, long v) {
    if (v <= 0) throw new IllegalArgumentException("\"" + name + "\" must be positive, got " + v);
  }

  /** Width of the attention projections, {@code num_heads * dim_head} (need not equal dim_model). */
  public long attentionWidth() {
    return numHeads * dimHead;
  }

  /** Rows of the bias table: positional buckets then segment buckets. */
  public long biasRows() {
    return positionBiasNumBuckets + positionBiasNumSegmentBuckets;
  }

  public static CpmBeeConfig load(Path path) throws VisCpmException {
    JsonNode json;
    try {
      json = new ObjectMapper().readTree(Files.readString(path));
    } catch (NoSuchFileException e) {
      throw new ResourceNotFoundException("CPM-Bee config not found: " + path);
    } catch (IOException e) {
      throw new FormatException(path + ": not a readable JSON file (" + e.getMessage() + ")");
    }
    return fromJson(json, path.toString());
  }

  public static CpmBeeConfig fromJson(JsonNode json, String origin) throws VisCpmException {
    if (json == null || !json.isObject()) throw new FormatException(origin + ": expected a JSON object");
    for (Iterator<String> it = json.fieldNames(); it.hasNext(); ) {
      String key = it.next();
      if (!KNOWN.contains(key)) throw new FormatException(origin + ": unknown field \"" + key + "\"");
    }
    long layers = integer(json, "num_layers", true, 0, origin);
    JsonNode mask = json.get("mask_modules");
    if (mask != null && !mask.isNull()) {
      if (!mask.isArray() || mask.size() != layers) {
        throw new FormatException(origin + ": \"mask_modules\" must be null or a list of num_layers [bool, bool] pairs");
      }
      for (JsonNode pair : mask) {
        if (!pair.isArray() || pair.size() != 2 || !pair.get(0).isBoolean() || !pair.get(1).isBoolean()) {
          throw new FormatException(origin + ": \"mask_modules\" entries must be [bool, bool] pairs, got " + pair);
        }
        if (pair.get(0).asBoolean() || pair.get(1).asBoolean()) {
          throw new UnsupportedFeatureException(origin + ": \"mask_modules\" that remove attention or FFN blocks are not supported");
        }
      }
    }
    boolean half = true;
    JsonNode h = json.get("half");
    if (h != null) {
      if (!h.isBoolean()) throw new FormatException(origin + ": field \"half\" must be true or false, got " + h);
      half = h.asBoolean();
    }
    try {
      return new CpmBeeConfig(
          integer(json, "vocab_size", true, 0, origin),
          integer(json, "dim_model", true, 0, origin),
          integer(json, "num_heads", true, 0, origin),
          integer(json, "dim_head", true, 0, origin),
          integer(json, "dim_ff", true, 0, origin),
          layers,
          number(json, "dropout_p", 0.0, origin),
          integer(json, "position_bias_num_buckets", false, 256, origin),
          integer(json, "position_bias_num_segment_buckets", false, 256, origin),
          integer(json, "position_bias_max_distance", false, 2048, origin),
          number(json, "eps", 1e-6, origin),
          half);
    } catch (IllegalArgumentException e) {
      throw new FormatException(origin + ": " + e.getMessage());
    }
  }

  private static long integer(JsonNode json, String key, boolean required, long fallback, String origin)
      throws FormatException {
    JsonNode v = json.get(key);
    if (v == null) {
      if (required) throw new FormatException(origin + ": missing required field \"" + key + "\"");
      return fallback;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new FormatException(origin + ": field \"" + key + "\" must be an integer, got " + v);
    }
    return v.asLong();
  }

  private static double number(JsonNode json, String key, double fallback, String origin) throws FormatException {
    JsonNode v = json.get(key);
    if (v == null) return fallback;
    if (!v.isNumber()) throw new FormatException(origin + ": field \"" + key + "\" must be a number, got " + v);
    return v.asDouble();
  }
}
