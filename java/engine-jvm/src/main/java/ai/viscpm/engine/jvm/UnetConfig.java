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
import java.util.ArrayList;
import java.util.List;

/**
 * UNet2DConditionModel configuration (diffusers 0.15 {@code unet/config.json}, unet.md). Only
 * the Stable Diffusion 2.x UNet family is accepted (as the native loader, unet_config.cpp):
 * other architectures are refused rather than run wrongly. diffusers 0.15 reads
 * {@code attention_head_dim} as a head COUNT per level (head width = channels / heads).
 */
public record UnetConfig(
    long inChannels,
    long outChannels,
    boolean centerInputSample,
    boolean flipSinToCos,
    long freqShift,
    List<Boolean> downWithAttention,
    List<Boolean> upWithAttention,
    long[] blockOutChannels,
    long layersPerBlock,
    long downsamplePadding,
    double midBlockScaleFactor,
    long normNumGroups,
    double normEps,
    long crossAttentionDim,
    long[] attentionHeads,
    boolean useLinearProjection,
    boolean upcastAttention,
    long convInKernel,
    long convOutKernel) {

  public int levels() {
    return blockOutChannels.length;
  }

  public long timeEmbedDim() {
    return blockOutChannels[0] * 4;
  }

  /** Spatial factor between the latent and the deepest level; latent sides must be multiples. */
  public long downsamplingFactor() {
    return 1L << (levels() - 1);
  }

  long upHeads(int upIndex) {
    return attentionHeads[levels() - 1 - upIndex];
  }

  long midHeads() {
    return attentionHeads[levels() - 1];
  }

  public static UnetConfig load(Path path) throws VisCpmException {
    JsonNode json;
    try {
      json = new ObjectMapper().readTree(Files.readString(path));
    } catch (NoSuchFileException e) {
      throw new ResourceNotFoundException("UNet config not found: " + path);
    } catch (IOException e) {
      throw new FormatException(path + ": not a readable JSON file (" + e.getMessage() + ")");
    }
    return fromJson(json, path.toString());
  }

  public static UnetConfig fromJson(JsonNode j, String origin) throws VisCpmException {
    if (j == null || !j.isObject()) throw new FormatException(origin + ": expected a JSON object");
    Fields f = new Fields(j, origin);
    String className = f.string("_class_name", "UNet2DConditionModel");
    if (!className.equals("UNet2DConditionModel")) {
      throw new FormatException(origin + ": _class_name is '" + className + "', expected UNet2DConditionModel");
    }
    JsonNode channels = f.find("block_out_channels");
    if (channels == null || !channels.isArray() || channels.isEmpty()) {
      throw f.bad("block_out_channels", "must be a non-empty list");
    }
    long[] blockOut = new long[channels.size()];
    for (int i = 0; i < blockOut.length; i++) {
      if (!channels.get(i).isIntegralNumber()) throw f.bad("block_out_channels", "must be a list of integers");
      blockOut[i] = channels.get(i).asLong();
    }
    List<Boolean> down = new ArrayList<>(), up = new ArrayList<>();
    for (String name : f.strings("down_block_types")) {
      if (name.equals("CrossAttnDownBlock2D")) down.add(true);
      else if (name.equals("DownBlock2D")) down.add(false);
      else throw new UnsupportedFeatureException(origin + ": down block type '" + name + "' is not supported");
    }
    for (String name : f.strings("up_block_types")) {
      if (name.equals("CrossAttnUpBlock2D")) up.add(true);
      else if (name.equals("UpBlock2D")) up.add(false);
      else throw new UnsupportedFeatureException(origin + ": up block type '" + name + "' is not supported");
    }
    // diffusers: num_attention_heads = num_attention_heads or attention_head_dim.
    long[] heads = f.find("num_attention_heads") != null ? f.perLevel("num_attention_heads", blockOut.length)
        : f.perLevel("attention_head_dim", blockOut.length);
    if (!f.string("act_fn", "silu").equals("silu")) throw new UnsupportedFeatureException(origin + ": act_fn must be silu");
    if (!f.string("mid_block_type", "UNetMidBlock2DCrossAttn").equals("UNetMidBlock2DCrossAttn")) {
      throw new UnsupportedFeatureException(origin + ": mid_block_type must be UNetMidBlock2DCrossAttn");
    }
    for (String key : List.of("dual_cross_attention", "only_cross_attention", "resnet_skip_time_act")) {
      f.requireNeutral(key, "false");
    }
    f.requireNeutral("resnet_time_scale_shift", "\"default\"");
    f.requireNeutral("time_embedding_type", "\"positional\"");
    f.requireNeutral("transformer_layers_per_block", "1");
    f.requireNeutral("attention_type", "\"default\"");
    for (String key : List.of("num_class_embeds", "class_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
        "addition_embed_type", "addition_time_embed_dim", "time_cond_proj_dim", "time_embedding_dim",
        "time_embedding_act_fn", "timestep_post_act", "projection_class_embeddings_input_dim",
        "cross_attention_norm", "mid_block_only_cross_attention", "reverse_transformer_layers_per_block")) {
      if (f.find(key) != null) {
        throw new UnsupportedFeatureException(origin + ": '" + key + "' = " + f.find(key)
            + " is not supported (this engine implements the Stable Diffusion 2.x UNet family)");
      }
    }
    if (f.find("resnet_out_scale_factor") != null && f.find("resnet_out_scale_factor").asDouble() != 1.0) {
      throw new UnsupportedFeatureException(origin + ": resnet_out_scale_factor must be 1");
    }
    UnetConfig c = new UnetConfig(
        f.integer("in_channels", 4), f.integer("out_channels", 4),
        f.bool("center_input_sample", false), f.bool("flip_sin_to_cos", true), f.integer("freq_shift", 0),
        List.copyOf(down), List.copyOf(up), blockOut,
        f.uniformInteger("layers_per_block", 2), f.integer("downsample_padding", 1),
        f.number("mid_block_scale_factor", 1.0), f.integer("norm_num_groups", 32), f.number("norm_eps", 1e-5),
        f.uniformInteger("cross_attention_dim", 1280), heads,
        f.bool("use_linear_projection", false), f.bool("upcast_attention", false),
        f.integer("conv_in_kernel", 3), f.integer("conv_out_kernel", 3));
    c.validate(origin);
    return c;
  }

  void validate(String origin) throws FormatException {
    int levels = levels();
    if (downWithAttention.size() != levels || upWithAttention.size() != levels) {
      throw new FormatException(origin + ": down_block_types and up_block_types need one entry per "
          + "block_out_channels entry (" + levels + ")");
    }
    if (inChannels <= 0 || outChannels <= 0 || layersPerBlock <= 0 || crossAttentionDim <= 0 || normNumGroups <= 0
        || !(normEps > 0)) {
      throw new FormatException(origin + ": in/out channels, layers_per_block, cross_attention_dim, "
          + "norm_num_groups and norm_eps must be positive");
    }
    if (convInKernel <= 0 || convInKernel % 2 == 0 || convOutKernel <= 0 || convOutKernel % 2 == 0) {
      throw new FormatException(origin + ": conv_in_kernel and conv_out_kernel must be odd");
    }
    if (blockOutChannels[0] % 2 != 0) {
      throw new FormatException(origin + ": block_out_channels[0] must be even (sinusoidal time embedding)");
    }
    for (int i = 0; i < levels; i++) {
      if (blockOutChannels[i] <= 0 || blockOutChannels[i] % normNumGroups != 0) {
        throw new FormatException(origin + ": block_out_channels[" + i + "] = " + blockOutChannels[i]
            + " is not a positive multiple of norm_num_groups " + normNumGroups);
      }
      if (attentionHeads[i] <= 0) throw new FormatException(origin + ": attention head counts must be positive");
      if (downWithAttention.get(i) && blockOutChannels[i] % attentionHeads[i] != 0) {
        throw new FormatException(origin + ": down block " + i + ": " + blockOutChannels[i]
            + " channels do not split into " + attentionHeads[i] + " heads");
      }
      if (upWithAttention.get(i) && blockOutChannels[levels - 1 - i] % upHeads(i) != 0) {
        throw new FormatException(origin + ": up block " + i + ": " + blockOutChannels[levels - 1 - i]
            + " channels do not split into " + upHeads(i) + " heads");
      }
    }
    if (blockOutChannels[levels - 1] % midHeads() != 0) {
      throw new FormatException(origin + ": mid block channels do not split into " + midHeads() + " heads");
    }
  }

  /** Field readers: absent or null keeps the default; a wrong JSON type is a FormatException. */
  static final class Fields {
    private final JsonNode j;
    private final String origin;

    Fields(JsonNode j, String origin) {
      this.j = j;
      this.origin = origin;
    }

    JsonNode find(String key) {
      JsonNode v = j.get(key);
      return v == null || v.isNull() ? null : v;
    }

    FormatException bad(String key, String what) {
      return new FormatException(origin + ": field '" + key + "' " + what);
    }

    long integer(String key, long fallback) throws FormatException {
      JsonNode v = find(key);
      if (v == null) return fallback;
      if (!v.isIntegralNumber()) throw bad(key, "must be an integer, got " + v);
      return v.asLong();
    }

    double number(String key, double fallback) throws FormatException {
      JsonNode v = find(key);
      if (v == null) return fallback;
      if (!v.isNumber()) throw bad(key, "must be a number, got " + v);
      return v.asDouble();
    }

    boolean bool(String key, boolean fallback) throws FormatException {
      JsonNode v = find(key);
      if (v == null) return fallback;
      if (!v.isBoolean()) throw bad(key, "must be true or false, got " + v);
      return v.asBoolean();
    }

    String string(String key, String fallback) throws FormatException {
      JsonNode v = find(key);
      if (v == null) return fallback;
      if (!v.isTextual()) throw bad(key, "must be a string, got " + v);
      return v.asText();
    }

    List<String> strings(String key) throws FormatException {
      JsonNode v = find(key);
      if (v == null || !v.isArray()) throw bad(key, "must be a list of block type names");
      List<String> out = new ArrayList<>();
      for (JsonNode e : v) {
        if (!e.isTextual()) throw bad(key, "must be a list of strings");
        out.add(e.asText());
      }
      return out;
    }

    /** An integer broadcast to every level, or a list of one integer per level. */
    long[] perLevel(String key, int levels) throws FormatException {
      JsonNode v = find(key);
      if (v == null) throw bad(key, "is required");
      long[] out = new long[levels];
      if (v.isIntegralNumber()) {
        java.util.Arrays.fill(out, v.asLong());
        return out;
      }
      if (!v.isArray()) throw bad(key, "must be an integer or a list of integers");
      if (v.size() != levels) throw bad(key, "has " + v.size() + " entries but block_out_channels has " + levels);
      for (int i = 0; i < levels; i++) {
        if (!v.get(i).isIntegralNumber()) throw bad(key, "must be a list of integers, got " + v);
        out[i] = v.get(i).asLong();
      }
      return out;
    }

    /** An integer, or a list whose entries all equal one value (the only form this engine runs). */
    long uniformInteger(String key, long fallback) throws VisCpmException {
      JsonNode v = find(key);
      if (v == null) return fallback;
      if (v.isIntegralNumber()) return v.asLong();
      if (v.isArray() && !v.isEmpty()) {
        long first = v.get(0).asLong();
        for (JsonNode e : v) {
          if (!e.isIntegralNumber()) throw bad(key, "must be an integer or a list of integers");
          if (e.asLong() != first) {
            throw new UnsupportedFeatureException(origin + ": per-block values of '" + key + "' (" + v + ") are not supported");
          }
        }
        return first;
      }
      throw bad(key, "must be an integer or a list of integers, got " + v);
    }

    /** Options of later diffusers versions: accepted only at their neutral value (or a list of it). */
    void requireNeutral(String key, String neutralJson) throws UnsupportedFeatureException {
      JsonNode v = find(key);
      if (v == null || v.toString().equals(neutralJson)) return;
      if (v.isArray() && !v.isEmpty()) {
        boolean all = true;
        for (JsonNode e : v) all &= e.toString().equals(neutralJson);
        if (all) return;
      }
      throw new UnsupportedFeatureException(origin + ": '" + key + "' = " + v
          + " is not supported (this engine implements the Stable Diffusion 2.x UNet family)");
    }
  }
}
