package ai.viscpm.elasticsearch;

import ai.viscpm.Device;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatModel;
import java.nio.file.Path;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;

/**
 * The node's one VisCPM-Chat model, loaded at node start from the node settings and closed
 * with the plugin. Unconfigured nodes hold none and say how to configure one.
 */
final class NodeChatModel implements AutoCloseable {
  /** JavaCPP's own property for where it unpacks the native libraries. */
  static final String JAVACPP_CACHE_DIR = "org.bytedeco.javacpp.cachedir";
  /** JavaCPP's bound on the process's resident memory, checked at each of its allocations. */
  static final String JAVACPP_MAX_PHYSICAL_BYTES = "org.bytedeco.javacpp.maxPhysicalBytes";

  private final ChatModel model;
  private final Path modelDir;

  private NodeChatModel(ChatModel model, Path modelDir) {
    this.model = model;
    this.modelDir = modelDir;
  }

  static NodeChatModel load(Settings settings, Environment env) throws VisCpmException {
    Path dir = CaptionSettings.path(CaptionSettings.MODEL_DIR, settings, env);
    Path checkpoint = CaptionSettings.path(CaptionSettings.CHECKPOINT, settings, env);
    if (dir == null && checkpoint == null) return new NodeChatModel(null, null);
    configureJavaCpp(env);
    String device = CaptionSettings.DEVICE.get(settings).toLowerCase(java.util.Locale.ROOT);
    ModelOptions.Builder options = ModelOptions.builder().device(Device.parse(device.replaceFirst(":.*", "")));
    if (device.contains(":")) options.cudaIndex(Integer.parseInt(device.substring(device.indexOf(':') + 1)));
    ChatModel model = ChatModel.load(dir, checkpoint, CaptionSettings.path(CaptionSettings.CPM_BEE_CONFIG, settings, env),
        CaptionSettings.path(CaptionSettings.BEIT3_CONFIG, settings, env),
        CaptionSettings.path(CaptionSettings.VOCABULARY, settings, env), options.build());
    return new NodeChatModel(model, dir != null ? dir : checkpoint);
  }

  /**
   * Before JavaCPP's first use; an explicit -D in jvm.options wins over both.
   *
   * <p>JavaCPP unpacks its libraries under ~/.javacpp by default, which the node's entitlements
   * do not let a plugin write (and the elasticsearch user often has no home): the node's temp
   * folder is writable.
   *
   * <p>JavaCPP also refuses any allocation (an OutOfMemoryError, which stops an Elasticsearch
   * node) once the process's resident memory passes 4 x the heap: on a node that holds the
   * model's weights and maps Lucene files, that happens in normal operation. The check only
   * helps code that leaves native memory to the garbage collector; the VisCPM API frees every
   * native object when it is closed, so it is turned off.
   */
  private static void configureJavaCpp(Environment env) {
    if (System.getProperty(JAVACPP_CACHE_DIR) == null) {
      System.setProperty(JAVACPP_CACHE_DIR, env.tmpDir().resolve("viscpm-javacpp").toString());
    }
    if (System.getProperty(JAVACPP_MAX_PHYSICAL_BYTES) == null) System.setProperty(JAVACPP_MAX_PHYSICAL_BYTES, "0");
  }

  boolean configured() {
    return model != null;
  }

  /** The model, or a configuration error naming the setting to set. */
  ChatModel get() {
    if (model == null) {
      throw new IllegalStateException("no VisCPM-Chat model on this node: set [" + CaptionSettings.MODEL_DIR.getKey()
          + "] in elasticsearch.yml to the model folder (and restart the node)");
    }
    return model;
  }

  Path modelDir() {
    return modelDir;
  }

  @Override
  public void close() {
    if (model != null) model.close();
  }
}
