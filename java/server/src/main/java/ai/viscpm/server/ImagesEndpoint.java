package ai.viscpm.server;

import ai.viscpm.VisCpmException;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Base64;
import javax.imageio.ImageIO;

/**
 * POST /v1/images/generations: prompt, n, size ("WxH"), response_format b64_json (PNG); the
 * documented extensions negative_prompt, steps, guidance_scale, seed, scheduler.
 */
final class ImagesEndpoint {
  private static final int MAX_IMAGES = 8;
  private final PaintModel model;

  ImagesEndpoint(PaintModel model) {
    this.model = model;
  }

  static final int MAX_SIDE = 2048;
  static final int MAX_STEPS = 1000;
  static final double MAX_GUIDANCE = 100;

  static PaintRequest parse(JsonNode body, PaintModel model) throws ApiError {
    String modelId = Fields.string(body, "model", "model");
    if (modelId != null && !VisCpmServer.PAINT_MODEL_ID.equals(modelId))
      throw ApiError.notFound("model_not_found", "unknown model '" + ChatEndpoint.clip(modelId) + "'; this server has '"
          + VisCpmServer.PAINT_MODEL_ID + "' for images");
    String prompt = Fields.string(body, "prompt", "prompt");
    if (prompt == null || prompt.isEmpty()) throw ApiError.badRequest("prompt", "'prompt' is required (a non-empty string)");
    String format = Fields.string(body, "response_format", "response_format");
    if (format != null && !format.equals("b64_json"))
      throw ApiError.badRequest("response_format", "only response_format b64_json is supported (the server keeps no files)");
    PaintRequest.Builder b = PaintRequest.builder(prompt);
    Long n = Fields.integer(body, "n", "n", 1, MAX_IMAGES);
    b.numImages(n == null ? 1 : n.intValue());
    String size = Fields.string(body, "size", "size");
    if (size != null) {
      String[] parts = size.toLowerCase(java.util.Locale.ROOT).split("x", -1);
      int w, h;
      try {
        if (parts.length != 2 || parts[0].length() > 5 || parts[1].length() > 5) throw new NumberFormatException();
        w = Integer.parseInt(parts[0]);
        h = Integer.parseInt(parts[1]);
      } catch (NumberFormatException e) {
        throw ApiError.badRequest("size", "size must be WIDTHxHEIGHT, e.g. 512x512, got '" + ChatEndpoint.clip(size) + "'");
      }
      int multiple = model.sizeMultiple();
      if (w <= 0 || h <= 0 || w % multiple != 0 || h % multiple != 0 || w > MAX_SIDE || h > MAX_SIDE)
        throw ApiError.badRequest("size", "this model paints sides that are multiples of " + multiple + " up to " + MAX_SIDE
            + ", got " + size + " (default " + model.defaultSize() + "x" + model.defaultSize() + ")");
      b.size(w, h);
    }
    String negative = Fields.string(body, "negative_prompt", "negative_prompt");
    if (negative != null) b.negativePrompt(negative);
    Long steps = Fields.integer(body, "steps", "steps", 1, MAX_STEPS);
    if (steps != null) b.steps(steps.intValue());
    Double guidance = Fields.number(body, "guidance_scale", "guidance_scale", 0, MAX_GUIDANCE);
    if (guidance != null) b.guidanceScale(guidance.floatValue());
    Long seed = Fields.integer(body, "seed", "seed", Long.MIN_VALUE, Long.MAX_VALUE);
    if (seed != null) b.seed(seed);
    String scheduler = Fields.string(body, "scheduler", "scheduler");
    if (scheduler != null) {
      if (!PaintModel.schedulers().contains(scheduler))
        throw ApiError.badRequest("scheduler", "unknown scheduler '" + ChatEndpoint.clip(scheduler) + "'; use one of "
            + PaintModel.schedulers());
      b.scheduler(scheduler);
    }
    return b.build();
  }

  void handle(JsonNode body, Call call, VisCpmServer.Outcome outcome) throws ApiError, VisCpmException, IOException {
    PaintRequest request = parse(body, model);
    PaintResult result = model.generate(request);
    ObjectNode root = VisCpmServer.JSON.createObjectNode();
    root.put("created", System.currentTimeMillis() / 1000);
    var data = root.putArray("data");
    for (int i = 0; i < result.count(); i++) {
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(result.toBufferedImage(i), "png", png);
      data.addObject().put("b64_json", Base64.getEncoder().encodeToString(png.toByteArray()))
          .put("revised_prompt", request.prompt());
    }
    root.put("seed", result.seed());
    outcome.tokens = 0;
    call.sendJson(200, root);
  }
}
