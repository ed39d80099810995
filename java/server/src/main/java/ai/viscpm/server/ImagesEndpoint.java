package ai.viscpm.server;

import ai.viscpm.VisCpmException;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
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

  static PaintRequest parse(JsonNode body, PaintModel model) throws ApiError {
    JsonNode modelId = body.get("model");
    if (modelId != null && !modelId.isNull() && !VisCpmServer.PAINT_MODEL_ID.equals(modelId.asText()))
      throw ApiError.notFound("model_not_found", "unknown model '" + modelId.asText() + "'; this server has '"
          + VisCpmServer.PAINT_MODEL_ID + "' for images");
    JsonNode prompt = body.get("prompt");
    if (prompt == null || !prompt.isTextual() || prompt.asText().isEmpty())
      throw ApiError.badRequest("prompt", "'prompt' is required (a non-empty string)");
    String format = body.path("response_format").asText("b64_json");
    if (!format.equals("b64_json"))
      throw ApiError.badRequest("response_format", "only response_format b64_json is supported (the server keeps no files)");
    PaintRequest.Builder b = PaintRequest.builder(prompt.asText());
    int n = intField(body, "n", 1);
    if (n < 1 || n > MAX_IMAGES) throw ApiError.badRequest("n", "n must be in [1, " + MAX_IMAGES + "]");
    b.numImages(n);
    if (body.hasNonNull("size")) {
      String size = body.get("size").asText();
      String[] parts = size.toLowerCase(java.util.Locale.ROOT).split("x");
      int w, h;
      try {
        if (parts.length != 2) throw new NumberFormatException();
        w = Integer.parseInt(parts[0]);
        h = Integer.parseInt(parts[1]);
      } catch (NumberFormatException e) {
        throw ApiError.badRequest("size", "size must be WIDTHxHEIGHT, e.g. 512x512, got '" + size + "'");
      }
      int multiple = model.sizeMultiple();
      if (w <= 0 || h <= 0 || w % multiple != 0 || h % multiple != 0 || w > 2048 || h > 2048)
        throw ApiError.badRequest("size", "this model paints sides that are multiples of " + multiple + " up to 2048, got "
            + size + " (default " + model.defaultSize() + "x" + model.defaultSize() + ")");
      b.size(w, h);
    }
    if (body.hasNonNull("negative_prompt")) b.negativePrompt(body.get("negative_prompt").asText());
    if (body.hasNonNull("steps")) {
      int steps = intField(body, "steps", 50);
      if (steps < 1 || steps > 1000) throw ApiError.badRequest("steps", "steps must be in [1, 1000]");
      b.steps(steps);
    }
    if (body.hasNonNull("guidance_scale")) {
      if (!body.get("guidance_scale").isNumber()) throw ApiError.badRequest("guidance_scale", "guidance_scale must be a number");
      b.guidanceScale((float) body.get("guidance_scale").asDouble());
    }
    if (body.hasNonNull("seed")) {
      if (!body.get("seed").canConvertToLong()) throw ApiError.badRequest("seed", "seed must be an integer");
      b.seed(body.get("seed").asLong());
    }
    if (body.hasNonNull("scheduler")) {
      String scheduler = body.get("scheduler").asText();
      if (!PaintModel.schedulers().contains(scheduler))
        throw ApiError.badRequest("scheduler", "unknown scheduler '" + scheduler + "'; use one of " + PaintModel.schedulers());
      b.scheduler(scheduler);
    }
    return b.build();
  }

  void handle(JsonNode body, HttpExchange exchange, VisCpmServer.Outcome outcome) throws ApiError, VisCpmException,
      IOException {
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
    VisCpmServer.sendJson(exchange, 200, root);
  }

  private static int intField(JsonNode body, String field, int fallback) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) return fallback;
    if (!n.canConvertToInt() || !n.isIntegralNumber()) throw ApiError.badRequest(field, "'" + field + "' must be an integer");
    return n.asInt();
  }
}
