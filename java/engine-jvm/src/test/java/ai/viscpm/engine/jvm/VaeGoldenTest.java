package ai.viscpm.engine.jvm;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The golden case {@code vae_decode} through the JVM engine (native/testkit/kinds/vae_decode.cpp). */
class VaeGoldenTest {
  @Test
  void vaeDecode() throws Exception {
    try (GoldenCase c = GoldenCase.named("vae_decode");
        VaeDecoder vae = VaeDecoder.load(c.paramPath("vae_dir", "vae_dir"), ScalarType.Float);
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
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
      c.assertPassed();
    }
  }
}
