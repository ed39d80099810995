package ai.viscpm.engine.jvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The golden cases of kind {@code scheduler} through the JVM engine, computed as
 * native/testkit/kinds/scheduler.cpp does: {@code Class.from_config(scheduler_config.json)},
 * {@code set_timesteps(n)}, then {@code num_steps_run} rounds of (scale_model_input, step) on
 * the recorded model outputs with one CPU generator seeded with {@code generator_seed}; every
 * normal draw the steps take is recorded and compared.
 */
class SchedulerGoldenTest {
  @ParameterizedTest
  @ValueSource(strings = {"scheduler_ddpm", "scheduler_ddim", "scheduler_pndm", "scheduler_euler_discrete",
      "scheduler_euler_ancestral", "scheduler_dpmsolver_multistep"})
  void scheduler(String name) throws Exception {
    try (GoldenCase c = GoldenCase.named(name)) {
      JsonNode params = c.params();
      Path configPath = c.paramPath("config", "scheduler_config");
      SchedulerConfig config = SchedulerConfig.load(configPath);
      String className = params.path("scheduler_class").asText();
      Generator generator = NoiseSource.cpuGenerator(params.path("generator_seed").asLong());
      try (Scheduler scheduler = Scheduler.create(className, config);
          NoiseSource.Recording noise = new NoiseSource.Recording(NoiseSource.generator(generator));
          PointerScope scope = new PointerScope();
          InferenceMode guard = new InferenceMode()) {
        scheduler.setTimesteps(params.path("num_inference_steps").asInt());
        c.compare("timesteps", scheduler.timesteps());
        float[] alphas = scheduler.alphasCumprod();
        c.compare("alphas_cumprod", Torch.floats(alphas, alphas.length));
        if (c.hasExpected("sigmas")) {
          float[] sigmas = scheduler.sigmas();
          if (sigmas == null) throw new AssertionError(className + " has no sigmas");
          c.compare("sigmas", Torch.floats(sigmas, sigmas.length));
        }

        Tensor sample = c.inputTensor("sample");
        Tensor modelOutputs = c.inputTensor("model_outputs");
        int stepsRun = params.has("num_steps_run") ? params.get("num_steps_run").asInt() : (int) modelOutputs.size(0);
        double[] timesteps = scheduler.timestepValues();
        if (stepsRun > modelOutputs.size(0) || stepsRun > timesteps.length) {
          throw new AssertionError("num_steps_run " + stepsRun + " exceeds the model outputs / timesteps");
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
          if (predOriginal.size() != prev.size()) throw new AssertionError(className + " returned no pred_original_sample");
          c.compare("pred_original_samples", stack(predOriginal));
        }
        if (c.hasExpected("generator_noise_draws")) {
          if (noise.draws().isEmpty()) throw new AssertionError(className + " drew no noise");
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
      c.assertPassed();
    }
  }

  private static Tensor stack(List<Tensor> tensors) {
    return torch.stack(new TensorVector(tensors.toArray(new Tensor[0])), 0);
  }
}
