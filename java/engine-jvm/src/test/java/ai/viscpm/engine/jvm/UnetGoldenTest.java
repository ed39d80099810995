package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The golden case {@code unet_forward} through the JVM engine (native/testkit/kinds/unet_forward.cpp). */
class UnetGoldenTest {
  @Test
  void unetForward() throws Exception {
    try (GoldenCase c = GoldenCase.named("unet_forward");
        Checkpoint checkpoint = Checkpoint.open(c.checkpoint());
        Unet unet = Unet.load(UnetConfig.load(c.paramPath("unet_config", "unet_config")), checkpoint,
            c.params().path("checkpoint_prefix").asText("unet."), ScalarType.Float);
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
      Tensor noise = unet.forward(c.inputTensor("latent_model_input"), c.inputTensor("timestep"),
          c.inputTensor("encoder_hidden_states"));
      c.compare("noise_pred", noise);
      // The reference pipeline's expression and order (float32): u + g * (c - u).
      double guidance = c.params().path("guidance_scale").asDouble(7.5);
      long half = noise.size(0) / 2;
      Tensor uncond = noise.narrow(0, 0, half), cond = noise.narrow(0, half, half);
      c.compare("guided_noise_pred", uncond.add(cond.sub(uncond).mul(new Scalar(guidance))));
      noise.close();
      c.assertPassed();
    }
  }
}
