package ai.viscpm.engine.jvm;

import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.VisCpmException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The keys of a diffusers {@code scheduler_config.json}, in file order (any scheduler's config:
 * every class takes the keys it knows and lists the others as ignored, as {@code
 * Class.from_config} does). Immutable.
 */
public final class SchedulerConfig {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final ObjectNode values;

  private SchedulerConfig(ObjectNode values) {
    this.values = values;
  }

  /** No keys: every class keeps its defaults. */
  public static SchedulerConfig empty() {
    return new SchedulerConfig(JSON.createObjectNode());
  }

  public static SchedulerConfig load(Path path) throws VisCpmException {
    JsonNode json;
    try {
      json = JSON.readTree(Files.readString(path));
    } catch (NoSuchFileException e) {
      throw new ResourceNotFoundException("scheduler config not found: " + path);
    } catch (IOException e) {
      throw new FormatException("scheduler config " + path + " is not valid JSON: " + e.getMessage());
    }
    if (json == null || !json.isObject()) {
      throw new FormatException("scheduler config " + path + " must hold a JSON object");
    }
    return new SchedulerConfig((ObjectNode) json);
  }

  public static SchedulerConfig fromJson(JsonNode values) throws InvalidInputException {
    if (values == null || !values.isObject()) throw new InvalidInputException("a scheduler config must be a JSON object");
    return new SchedulerConfig(((ObjectNode) values).deepCopy());
  }

  /** The keys as given, in file order (a copy). */
  public ObjectNode values() {
    return values.deepCopy();
  }

  JsonNode get(String key) {
    return values.get(key);
  }

  Iterable<String> keys() {
    return values::fieldNames;
  }

  /** {@code _class_name} of the file ("" when absent): informative only, the caller picks the class. */
  public String className() {
    JsonNode v = values.get("_class_name");
    return v != null && v.isTextual() ? v.asText() : "";
  }

  /** A copy with {@code key} set, like {@code Class.from_config(config, key=value)}. */
  public SchedulerConfig with(String key, JsonNode value) {
    ObjectNode copy = values.deepCopy();
    copy.set(key, value);
    return new SchedulerConfig(copy);
  }
}
