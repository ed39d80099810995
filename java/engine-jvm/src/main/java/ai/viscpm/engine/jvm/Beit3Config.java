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

/**
 * The BEiT-3 ("Muffin") vision encoder configuration (fixtures README, beit3.md §2). Missing
 * fields take the released model's values; the architecture flags must have the values the
 * VisCPM encoder implements (another variant is refused, as the native loader does).
 */
public record Beit3Config(
    long imgSize,
    long patchSize,
    long inChans,
    long embedDim,
    long attentionHeads,
    long ffnEmbedDim,
    long layers,
    long vocabSize,
    long maxSourcePositions,
    double layernormEps,
    long queryNum) {

  public Beit3Config {
    if (imgSize <= 0 || patchSize <= 0 || imgSize % patchSize != 0) {
      throw new IllegalArgumentException("img_size (" + imgSize + ") must be a positive multiple of patch_size ("
          + patchSize + ")");
    }
    if (inChans != 3) throw new IllegalArgumentException("in_chans must be 3 (RGB input), got " + inChans);
    if (embedDim <= 0 || attentionHeads <= 0 || embedDim % attentionHeads != 0) {
      throw new IllegalArgumentException("encoder_embed_dim (" + embedDim + ") must be a positive multiple of "
          + "encoder_attention_heads (" + attentionHeads + ")");
    }
    if (ffnEmbedDim <= 0 || layers <= 0 || queryNum <= 0) {
      throw new IllegalArgumentException("encoder_ffn_embed_dim, encoder_layers and query_num must be positive");
    }
    if (maxSourcePositions < queryNum + 2) {
      throw new IllegalArgumentException("max_source_positions (" + maxSourcePositions + ") must hold query_num + 2 rows");
    }
    if (!(layernormEps > 0)) throw new IllegalArgumentException("layernorm_eps must be positive");
  }

  public long patchesPerSide() {
    return imgSize / patchSize;
  }

  public long numPatches() {
    return patchesPerSide() * patchesPerSide();
  }

  /** cls + patches. */
  public long numVisionTokens() {
    return numPatches() + 1;
  }

  public long headDim() {
    return embedDim / attentionHeads;
  }

  public static Beit3Config load(Path path) throws VisCpmException {
    JsonNode json;
    try {
      json = new ObjectMapper().readTree(Files.readString(path));
    } catch (NoSuchFileException e) {
      throw new ResourceNotFoundException("BEiT-3 config not found: " + path);
    } catch (IOException e) {
      throw new FormatException(path + ": not a readable JSON file (" + e.getMessage() + ")");
    }
    return fromJson(json, path.toString());
  }

  public static Beit3Config fromJson(JsonNode j, String origin) throws VisCpmException {
    if (j == null || !j.isObject()) throw new FormatException(origin + ": expected a JSON object");
    flag(j, "activation_fn", "\"gelu\"", origin);
    flag(j, "multiway", "true", origin);
    flag(j, "subln", "true", origin);
    flag(j, "encoder_normalize_before", "true", origin);
    flag(j, "normalize_output", "true", origin);
    flag(j, "layernorm_embedding", "false", origin);
    flag(j, "no_scale_embedding", "true", origin);
    flag(j, "no_output_layer", "true", origin);
    flag(j, "rel_pos_buckets", "0", origin);
    flag(j, "resize_interpolation", "\"bicubic\"", origin);
    try {
      return new Beit3Config(
          integer(j, "img_size", 224, origin),
          integer(j, "patch_size", 16, origin),
          integer(j, "in_chans", 3, origin),
          integer(j, "encoder_embed_dim", 1024, origin),
          integer(j, "encoder_attention_heads", 16, origin),
          integer(j, "encoder_ffn_embed_dim", 4096, origin),
          integer(j, "encoder_layers", 24, origin),
          integer(j, "vocab_size", 64010, origin),
          integer(j, "max_source_positions", 1024, origin),
          number(j, "layernorm_eps", 1e-5, origin),
          integer(j, "query_num", 64, origin));
    } catch (IllegalArgumentException e) {
      throw new FormatException(origin + ": " + e.getMessage());
    }
  }

  private static void flag(JsonNode j, String key, String expected, String origin) throws UnsupportedFeatureException {
    JsonNode v = j.get(key);
    if (v == null || v.toString().equals(expected)) return;
    throw new UnsupportedFeatureException(origin + ": '" + key + "' = " + v + " is not supported (the VisCPM encoder has "
        + expected + ")");
  }

  private static long integer(JsonNode j, String key, long fallback, String origin) throws FormatException {
    JsonNode v = j.get(key);
    if (v == null) return fallback;
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new FormatException(origin + ": field '" + key + "' has the wrong type (" + v + ")");
    }
    return v.asLong();
  }

  private static double number(JsonNode j, String key, double fallback, String origin) throws FormatException {
    JsonNode v = j.get(key);
    if (v == null) return fallback;
    if (!v.isNumber()) throw new FormatException(origin + ": field '" + key + "' has the wrong type (" + v + ")");
    return v.asDouble();
  }
}
