package ai.viscpm.internal;

import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_generation_params;
import ai.viscpm.internal.jni.viscpm_paint_params;

/**
 * The defaults of the C API's *_default_params(), read once: the Java builders start from
 * them, so a default is written in one place only (the native side).
 */
public final class NativeDefaults {
  private NativeDefaults() {}

  /** viscpm_generation_params as Java values; decoding is the C enum's name. */
  public record Generation(String decoding, int beamSize, int maxLength, int maxInputLength, float temperature,
      float repetitionPenalty, float lengthPenalty, int topK, float topP, long seed, boolean escapeText) {}

  /** viscpm_paint_params as Java values; scheduler is the C enum's name. */
  public record Paint(String scheduler, int width, int height, int steps, float guidanceScale, int numImages,
      float eta) {}

  private static volatile Generation generation;
  private static volatile Paint paint;

  public static Generation generation() {
    if (generation == null) {
      NativeLibrary.load();
      try (viscpm_generation_params p = viscpm.viscpm_generation_default_params()) {
        generation = new Generation(NativeLibrary.string(viscpm.viscpm_decoding_name(p.decoding())), p.beam_size(),
            p.max_length(), p.max_input_length(), p.temperature(), p.repetition_penalty(), p.length_penalty(),
            p.top_k(), p.top_p(), p.seed(), p.escape_text() != 0);
      }
    }
    return generation;
  }

  public static Paint paint() {
    if (paint == null) {
      NativeLibrary.load();
      try (viscpm_paint_params p = viscpm.viscpm_paint_default_params()) {
        paint = new Paint(NativeLibrary.string(viscpm.viscpm_scheduler_name(p.scheduler())), p.width(), p.height(),
            p.steps(), p.guidance_scale(), p.num_images(), p.eta());
      }
    }
    return paint;
  }
}
