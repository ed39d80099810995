package ai.viscpm.elasticsearch;

import ai.viscpm.VisCpmException;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.function.Supplier;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.lucene.util.SetOnce;
import org.elasticsearch.common.settings.Setting;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.ingest.Processor;
import org.elasticsearch.plugins.IngestPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.threadpool.ExecutorBuilder;
import org.elasticsearch.threadpool.FixedExecutorBuilder;

/**
 * The VisCPM plugin: the {@code viscpm_caption} ingest processor. The model is loaded once,
 * when the node starts, and closed with the node; inferences run on the node's own
 * {@value #THREAD_POOL} thread pool, never on a write thread.
 */
public class VisCpmPlugin extends Plugin implements IngestPlugin {
  /** The fixed thread pool of the inferences; its size bounds how many run at once. */
  public static final String THREAD_POOL = "viscpm_caption";
  private static final Logger logger = LogManager.getLogger(VisCpmPlugin.class);

  private final SetOnce<NodeChatModel> model = new SetOnce<>();
  private final SetOnce<ExecutorService> inferenceExecutor = new SetOnce<>();
  private final Settings settings;

  public VisCpmPlugin(Settings settings) {
    this.settings = settings;
  }

  @Override
  public List<Setting<?>> getSettings() {
    return CaptionSettings.all();
  }

  @Override
  public List<ExecutorBuilder<?>> getExecutorBuilders(Settings settings) {
    // Sized by Elasticsearch's own thread_pool.viscpm_caption.size / .queue_size settings.
    return List.of(new FixedExecutorBuilder(settings, THREAD_POOL, CaptionSettings.DEFAULT_CONCURRENT_INFERENCES,
        CaptionSettings.DEFAULT_QUEUE_SIZE, "thread_pool." + THREAD_POOL, EsExecutors.TaskTrackingConfig.DO_NOT_TRACK));
  }

  @Override
  public Collection<?> createComponents(PluginServices services) {
    inferenceExecutor.set(services.threadPool().executor(THREAD_POOL));
    try {
      model.set(NodeChatModel.load(settings, services.environment()));
    } catch (VisCpmException e) {
      throw new IllegalStateException("viscpm: cannot load the VisCPM-Chat model of the node settings "
          + CaptionSettings.describeModelSettings(settings) + ": " + e.getMessage(), e);
    }
    if (model.get().configured()) logger.info("viscpm: loaded the VisCPM-Chat model from [{}]", model.get().modelDir());
    return List.of();
  }

  @Override
  public Map<String, Processor.Factory> getProcessors(Processor.Parameters parameters) {
    // The factory may be built before createComponents runs: it looks the model up when a pipeline is created.
    Supplier<NodeChatModel> nodeModel = () -> {
      NodeChatModel m = model.get();
      if (m == null) throw new IllegalStateException("viscpm: the plugin has not finished starting on this node");
      return m;
    };
    return Map.of(CaptionProcessor.TYPE, new CaptionProcessor.Factory(nodeModel, inferenceExecutor::get,
        CaptionSettings.MAX_TOKENS_LIMIT.get(settings)));
  }

  @Override
  public void close() {
    NodeChatModel m = model.get();
    if (m != null) m.close();
  }
}
