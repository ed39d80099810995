package ai.viscpm.elasticsearch;

import static org.hamcrest.Matchers.containsString;

import com.carrotsearch.randomizedtesting.annotations.ThreadLeakFilters;
import java.util.Collection;
import org.elasticsearch.action.ingest.PutPipelineRequest;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.test.ESSingleNodeTestCase;
import org.elasticsearch.xcontent.XContentType;

/** A node with the plugin but no model: it starts, and a viscpm_caption pipeline is refused with what to set. */
@ThreadLeakFilters(defaultFilters = true, filters = JavaCppThreads.class)
public class UnconfiguredNodeTests extends ESSingleNodeTestCase {
  @Override
  protected Collection<Class<? extends Plugin>> getPlugins() {
    return pluginList(VisCpmPlugin.class);
  }

  public void testPipelineIsRefusedWithTheSettingToSet() {
    Exception e = expectThrows(Exception.class, () -> clusterAdmin().putPipeline(new PutPipelineRequest("caption",
        new BytesArray("{\"processors\": [{\"viscpm_caption\": {\"field\": \"image\"}}]}"), XContentType.JSON)).actionGet());
    assertThat(e.getMessage(), containsString("no VisCPM-Chat model on this node: set [viscpm.chat.model_dir]"));
  }
}
