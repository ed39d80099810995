package ai.viscpm.langchain4j;

import ai.viscpm.VisCpmException;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import dev.langchain4j.data.image.Image;
import dev.langchain4j.model.image.ImageModel;
import dev.langchain4j.model.output.Response;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.UnaryOperator;
import javax.imageio.ImageIO;

/**
 * LangChain4j's {@link ImageModel} over an in-process VisCPM-Paint model: PNG images as base64
 * data. {@code settings} adjusts each request (size, steps, seed, scheduler, ...) on top of
 * VisCPM-Paint's defaults.
 */
public final class VisCpmImageModel implements ImageModel {
  private final PaintModel model;
  private final UnaryOperator<PaintRequest.Builder> settings;

  public VisCpmImageModel(PaintModel model) {
    this(model, b -> b);
  }

  public VisCpmImageModel(PaintModel model, UnaryOperator<PaintRequest.Builder> settings) {
    this.model = model;
    this.settings = settings;
  }

  @Override
  public Response<Image> generate(String prompt) {
    return Response.from(generate(prompt, 1).content().get(0));
  }

  @Override
  public Response<List<Image>> generate(String prompt, int n) {
    try {
      PaintResult result = model.generate(settings.apply(PaintRequest.builder(prompt)).numImages(n).build());
      List<Image> images = new ArrayList<>();
      for (int i = 0; i < result.count(); i++) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(result.toBufferedImage(i), "png", png);
        images.add(Image.builder().base64Data(Base64.getEncoder().encodeToString(png.toByteArray()))
            .mimeType("image/png").revisedPrompt(prompt).build());
      }
      return Response.from(images);
    } catch (VisCpmException e) {
      throw new RuntimeException(e.getMessage(), e);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
