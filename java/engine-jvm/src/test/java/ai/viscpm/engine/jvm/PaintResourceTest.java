package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.InvalidInputException;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * Ownership on the paint side: scheduler loops (the stateful ones included) and whole
 * generations whose results are closed leave no native object behind; a seed gives the same
 * bytes every time; bad requests are refused before any work.
 */
class PaintResourceTest {
  @Test
  void schedulerLoopsLeakNothing() throws Exception {
    try (GoldenCase c = GoldenCase.named("scheduler_pndm")) {
      SchedulerConfig config = SchedulerConfig.load(c.paramPath("config", "scheduler_config"));
      for (String name : Scheduler.names()) {
        Generator generator = NoiseSource.cpuGenerator(7);
        try (Scheduler s = Scheduler.create(name, config)) {
          NoiseSource noise = NoiseSource.generator(generator);
          long before = 0;
          for (int run = 0; run < 3; run++) {
            if (run == 1) before = Pointer.totalCount();
            s.setTimesteps(10);
            Tensor x;
            try (PointerScope scope = new PointerScope()) {  // the helper's options objects are freed here
              x = Torch.keep(Torch.floats(new float[2 * 4 * 4 * 4], 2, 4, 4, 4));
            }
            for (double t : s.timestepValues()) {
              Tensor in = s.scaleModelInput(x, t);
              Scheduler.StepOutput out = s.step(in, t, x, noise);
              in.close();
              if (out.predOriginalSample() != null) out.predOriginalSample().close();
              x.close();
              x = out.prevSample();
            }
            assertEquals(4, x.size(1));
            x.close();
          }
          long after = Pointer.totalCount();
          assertTrue(after <= before, name + ": native objects leaked by a 10-step run: " + before + " -> " + after);
          assertThrows(InvalidInputException.class, () -> s.setTimesteps(0));
        } finally {
          generator.close();
        }
      }
      assertThrows(InvalidInputException.class, () -> Scheduler.create("no_such_scheduler", config));
    }
  }

  @Test
  void generationsLeakNothingAndRepeatExactly() throws Exception {
    try (GoldenCase c = GoldenCase.named("paint_pipeline");
        PaintPipeline pipeline = PaintPipeline.load(c.checkpoint(), c.cpmBeeConfig(),
            c.root.resolve(c.manifest.path("vocab").asText()),
            c.modelConfig("unet_config", "unet/config.json"), c.modelConfig("vae_dir", "vae"),
            c.modelConfig("scheduler_config", "scheduler/scheduler_config.json"))) {
      PaintPipeline.Request request = PaintPipeline.Request.of("一只橘猫", 3, 64, 11);
      double[] first = null;
      long before = 0;
      for (int i = 0; i < 3; i++) {
        if (i == 1) before = Pointer.totalCount();
        Tensor image = pipeline.generate(request, null);
        assertArrayEquals(new long[] {1, 64, 64, 3}, Torch.shape(image));
        assertEquals(ScalarType.Byte, Torch.typeOf(image));
        double[] bytes;
        try (PointerScope scope = new PointerScope()) {  // the copy's temporaries
          bytes = Torch.toDoubles(image);
        }
        if (first == null) first = bytes;
        else assertArrayEquals(first, bytes, "the same seed must give the same image");
        image.close();
      }
      long after = Pointer.totalCount();
      assertTrue(after <= before, "native objects leaked by a generation: " + before + " -> " + after);
      assertThrows(InvalidInputException.class,
          () -> pipeline.generate(new PaintPipeline.Request("x", "", 7.5, 3, 60, 64, 1, 1, "ddpm"), null));
      assertThrows(InvalidInputException.class,
          () -> pipeline.generate(new PaintPipeline.Request("a <foo> b", "", 7.5, 3, 64, 64, 1, 1, "ddpm"), null));
    }
  }
}
