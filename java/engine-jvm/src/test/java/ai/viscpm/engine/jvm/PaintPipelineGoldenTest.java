package ai.viscpm.engine.jvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The golden case {@code paint_pipeline} through the JVM engine's {@link PaintPipeline}
 * (native/testkit/kinds/paint_pipeline.cpp): the whole VisCPM-Paint path with one CPU
 * generator seeded with the case's seed and the reference's DDPM scheduler.
 */
class PaintPipelineGoldenTest {
  @Test
  void paintPipeline() throws Exception {
    try (GoldenCase c = GoldenCase.named("paint_pipeline");
        PaintPipeline pipeline = PaintPipeline.load(c.checkpoint(), c.cpmBeeConfig(),
            c.root.resolve(c.params().path("vocab").asText(c.manifest.path("vocab").asText())),
            c.modelConfig("unet_config", "stabilityai/stable-diffusion-2-1-base/unet/config.json"),
            c.modelConfig("vae_dir", "stabilityai/stable-diffusion-2-1-base/vae"),
            c.modelConfig("scheduler_config", "stabilityai/stable-diffusion-2-1-base/scheduler/scheduler_config.json"));
        PaintPipeline.Trace trace = new PaintPipeline.Trace();
        PointerScope scope = new PointerScope();
        InferenceMode guard = new InferenceMode()) {
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
      c.assertPassed();
    }
  }

  private static Tensor stack(List<Tensor> tensors) {
    return torch.stack(new TensorVector(tensors.toArray(new Tensor[0])), 0);
  }
}
