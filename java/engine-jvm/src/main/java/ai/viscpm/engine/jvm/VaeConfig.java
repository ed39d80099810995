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
import java.util.List;

/**
 * AutoencoderKL configuration (diffusers 0.15 {@code vae/config.json}, vae.md): what the
 * decoder needs. {@code scaling_factor} defaults to diffusers' 0.18215; the downsampling factor
 * is {@code 2^(len(block_out_channels)-1)}.
 */
public record VaeConfig(long inChannels, long outChannels, long latentChannels, long[] blockOutChannels,
                        long layersPerBlock, long normNumGroups, double scalingFactor) {

  public int levels() {
    return blockOutChannels.length;
  }

  /** Pixels per latent along each side. */
  public long downsamplingFactor() {
    return 1L << (levels() - 1);
  }

  public static VaeConfig load(Path path) throws VisCpmException {
    JsonNode json;
    try {
      json = new ObjectMapper().readTree(Files.readString(path));
    } catch (NoSuchFileException e) {
      throw new ResourceNotFoundException("VAE config not found: " + path);
    } catch (IOException e) {
      throw new FormatException(path + ": not a readable JSON file (" + e.getMessage() + ")");
    }
    return fromJson(json, path.toString());
  }

  public static VaeConfig fromJson(JsonNode j, String origin) throws VisCpmException {
    if (j == null || !j.isObject()) throw new FormatException(origin + ": expected a JSON object");
    UnetConfig.Fields f = new UnetConfig.Fields(j, origin);
    String className = f.string("_class_name", "AutoencoderKL");
    if (!className.equals("AutoencoderKL")) {
      throw new FormatException(origin + ": _class_name is '" + className + "', expected AutoencoderKL");
    }
    JsonNode channels = f.find("block_out_channels");
    if (channels == null || !channels.isArray() || channels.isEmpty()) {
      throw f.bad("block_out_channels", "must be a non-empty list of integers");
    }
    long[] blockOut = new long[channels.size()];
    for (int i = 0; i < blockOut.length; i++) {
      if (!channels.get(i).isIntegralNumber()) throw f.bad("block_out_channels", "must be a list of integers");
      blockOut[i] = channels.get(i).asLong();
    }
    JsonNode upTypes = f.find("up_block_types");
    if (upTypes != null) {
      if (!upTypes.isArray() || upTypes.size() != blockOut.length) {
        throw f.bad("up_block_types", "must list one block per block_out_channels entry");
      }
      for (JsonNode e : upTypes) {
        if (!e.asText().equals("UpDecoderBlock2D")) {
          throw new UnsupportedFeatureException(origin + ": up block type " + e + " is not supported");
        }
      }
    }
    if (!f.string("act_fn", "silu").equals("silu")) throw new UnsupportedFeatureException(origin + ": act_fn must be silu");
    for (String key : List.of("use_quant_conv", "use_post_quant_conv", "mid_block_add_attention")) {
      f.requireNeutral(key, "true");
    }
    if (f.find("shift_factor") != null && f.find("shift_factor").asDouble() != 0.0) {
      throw new UnsupportedFeatureException(origin + ": shift_factor " + f.find("shift_factor") + " is not supported");
    }
    VaeConfig c = new VaeConfig(f.integer("in_channels", 3), f.integer("out_channels", 3),
        f.integer("latent_channels", 4), blockOut, f.integer("layers_per_block", 1), f.integer("norm_num_groups", 32),
        f.number("scaling_factor", 0.18215));
    if (c.inChannels <= 0 || c.outChannels <= 0 || c.latentChannels <= 0 || c.layersPerBlock <= 0
        || c.normNumGroups <= 0) {
      throw new FormatException(origin + ": channel counts, layers_per_block and norm_num_groups must be positive");
    }
    for (long ch : blockOut) {
      if (ch <= 0 || ch % c.normNumGroups != 0) {
        throw new FormatException(origin + ": block_out_channels entry " + ch
            + " is not a positive multiple of norm_num_groups " + c.normNumGroups);
      }
    }
    if (!(c.scalingFactor > 0)) throw new FormatException(origin + ": scaling_factor must be positive");
    return c;
  }
}
