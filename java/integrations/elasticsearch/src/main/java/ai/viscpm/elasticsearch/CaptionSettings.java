package ai.viscpm.elasticsearch;

import java.nio.file.Path;
import java.util.List;
import org.elasticsearch.common.settings.Setting;
import org.elasticsearch.common.settings.Setting.Property;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;

/** The node settings (elasticsearch.yml) of the plugin; paths may be relative to the config folder. */
final class CaptionSettings {
  private CaptionSettings() {}

  /** The VisCPM-Chat model folder (models/README.md); unset: the processor is unavailable on this node. */
  static final Setting<String> MODEL_DIR = Setting.simpleString("viscpm.chat.model_dir", Property.NodeScope);
  /** Explicit files, for folders that do not follow the layout (several checkpoints, vocabulary elsewhere). */
  static final Setting<String> CHECKPOINT = Setting.simpleString("viscpm.chat.checkpoint", Property.NodeScope);
  static final Setting<String> CPM_BEE_CONFIG = Setting.simpleString("viscpm.chat.cpm_bee_config", Property.NodeScope);
  static final Setting<String> BEIT3_CONFIG = Setting.simpleString("viscpm.chat.beit3_config", Property.NodeScope);
  static final Setting<String> VOCABULARY = Setting.simpleString("viscpm.chat.vocabulary", Property.NodeScope);
  /** cpu or cuda (cuda:N picks a device). */
  static final Setting<String> DEVICE = Setting.simpleString("viscpm.chat.device", "cpu", value -> {
    if (!value.matches("(?i)cpu|cuda(:\\d+)?")) {
      throw new IllegalArgumentException("viscpm.chat.device must be cpu, cuda or cuda:N, got [" + value + "]");
    }
  }, Property.NodeScope);
  /**
   * Inferences at once on this node (thread_pool.viscpm_caption.size, the pool's own setting):
   * one, since each inference already uses every core through LibTorch.
   */
  static final int DEFAULT_CONCURRENT_INFERENCES = 1;
  /** Documents waiting for an inference (thread_pool.viscpm_caption.queue_size); beyond it they fail with 429. */
  static final int DEFAULT_QUEUE_SIZE = 1000;
  /** The largest max_tokens a pipeline may ask for: one document cannot hold an inference slot for long. */
  static final Setting<Integer> MAX_TOKENS_LIMIT =
      Setting.intSetting("viscpm.caption.max_tokens_limit", 256, 2, 4096, Property.NodeScope);

  static List<Setting<?>> all() {
    return List.of(MODEL_DIR, CHECKPOINT, CPM_BEE_CONFIG, BEIT3_CONFIG, VOCABULARY, DEVICE, MAX_TOKENS_LIMIT);
  }

  /** The model settings that are set, as key=value pairs, for error messages. */
  static String describeModelSettings(Settings settings) {
    StringBuilder out = new StringBuilder("[");
    for (Setting<String> s : List.of(MODEL_DIR, CHECKPOINT, CPM_BEE_CONFIG, BEIT3_CONFIG, VOCABULARY, DEVICE)) {
      if (s.exists(settings)) out.append(out.length() > 1 ? ", " : "").append(s.getKey()).append('=').append(s.get(settings));
    }
    return out.append(']').toString();
  }

  /** A path setting resolved against the config folder, as Elasticsearch does for its own files; null when unset. */
  static Path path(Setting<String> setting, Settings settings, Environment env) {
    String value = setting.get(settings);
    if (value == null || value.isBlank()) return null;
    return env.configDir().resolve(value).normalize();
  }
}
