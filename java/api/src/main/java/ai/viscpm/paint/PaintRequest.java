package ai.viscpm.paint;

import ai.viscpm.internal.NativeDefaults;
import java.util.OptionalLong;

/**
 * One text-to-image request. Defaults are VisCPM-Paint's: DDPM scheduler, 50 steps,
 * guidance 7.5, the model's default size (512 for SD 2.1-base), one image, a fresh seed.
 * Immutable; build with {@link #builder(String)}.
 */
public record PaintRequest(String prompt, String negativePrompt, String scheduler, int width, int height, int steps,
    float guidanceScale, int numImages, float eta, OptionalLong seed) {

  public static Builder builder(String prompt) {
    return new Builder(prompt);
  }

  /** Starts from the native defaults (viscpm_paint_default_params). */
  public static final class Builder {
    private final String prompt;
    private String negativePrompt = "";
    private String scheduler;
    private int width;
    private int height;
    private int steps;
    private float guidanceScale;
    private int numImages;
    private float eta;
    private OptionalLong seed = OptionalLong.empty();

    private Builder(String prompt) {
      this.prompt = prompt;
      NativeDefaults.Paint d = NativeDefaults.paint();
      scheduler = d.scheduler();
      width = d.width();
      height = d.height();
      steps = d.steps();
      guidanceScale = d.guidanceScale();
      numImages = d.numImages();
      eta = d.eta();
    }

    public Builder negativePrompt(String s) { this.negativePrompt = s == null ? "" : s; return this; }
    /** ddpm, ddim, pndm, euler, euler_ancestral or dpmsolver_multistep (or a diffusers class name). */
    public Builder scheduler(String s) { this.scheduler = s; return this; }
    /** Image size in pixels (0 = the model's default); multiples of {@link PaintModel#sizeMultiple()}. */
    public Builder size(int width, int height) { this.width = width; this.height = height; return this; }
    public Builder steps(int n) { this.steps = n; return this; }
    public Builder guidanceScale(float g) { this.guidanceScale = g; return this; }
    public Builder numImages(int k) { this.numImages = k; return this; }
    public Builder eta(float e) { this.eta = e; return this; }
    /** Reproduces the reference's random draws (LibTorch's CPU generator, same order). */
    public Builder seed(long s) { this.seed = OptionalLong.of(s); return this; }

    public PaintRequest build() {
      return new PaintRequest(prompt, negativePrompt, scheduler, width, height, steps, guidanceScale, numImages, eta,
          seed);
    }
  }
}
