package ai.viscpm.elasticsearch;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;

import ai.viscpm.chat.ChatModel;
import com.carrotsearch.randomizedtesting.annotations.ThreadLeakFilters;
import java.util.Base64;
import java.util.Collection;
import java.util.Map;
import org.elasticsearch.action.bulk.BulkItemResponse;
import org.elasticsearch.action.bulk.BulkRequestBuilder;
import org.elasticsearch.action.bulk.BulkResponse;
import org.elasticsearch.action.index.IndexRequest;
import org.elasticsearch.action.ingest.PutPipelineRequest;
import org.elasticsearch.action.support.WriteRequest;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.test.ESSingleNodeTestCase;
import org.elasticsearch.xcontent.XContentType;

/**
 * One inference at a time and one waiting: a bulk of many documents gets 429s for the
 * documents beyond the queue (which a client retries), captions for the rest, and no hang.
 */
@ThreadLeakFilters(defaultFilters = true, filters = JavaCppThreads.class)
public class BackpressureTests extends ESSingleNodeTestCase {
  @Override
  protected Collection<Class<? extends Plugin>> getPlugins() {
    return pluginList(VisCpmPlugin.class);
  }

  @Override
  protected Settings nodeSettings() {
    return Settings.builder()
        .put(CaptionSettings.MODEL_DIR.getKey(), TestFixtures.modelDir().toString())
        .put(CaptionSettings.CHECKPOINT.getKey(), TestFixtures.checkpoint().toString())
        .put(CaptionSettings.VOCABULARY.getKey(), TestFixtures.vocabulary().toString())
        .put("thread_pool." + VisCpmPlugin.THREAD_POOL + ".size", 1)
        .put("thread_pool." + VisCpmPlugin.THREAD_POOL + ".queue_size", 1)
        .build();
  }

  public void testDocumentsBeyondTheQueueAreRejectedAndTheRestCaptioned() throws Exception {
    clusterAdmin().putPipeline(new PutPipelineRequest("caption", new BytesArray(
        "{\"processors\": [{\"viscpm_caption\": {\"field\": \"image\", \"max_tokens\": 8}}]}"), XContentType.JSON)).actionGet();
    byte[] image = TestFixtures.images().get(0);
    String expected;
    try (ChatModel reference = TestFixtures.loadModel()) {
      expected = TestFixtures.answer(reference, image, CaptionProcessor.DEFAULT_QUESTION, 8);
    }
    int documents = 12;
    BulkRequestBuilder bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE);
    for (int d = 0; d < documents; d++) {
      bulk.add(new IndexRequest("photos").id("d" + d).setPipeline("caption")
          .source(Map.of("image", Base64.getEncoder().encodeToString(image))));
    }
    BulkResponse response = bulk.get();
    int captioned = 0, rejected = 0;
    for (BulkItemResponse item : response.getItems()) {
      if (item.isFailed()) {
        assertEquals(item.getFailureMessage(), RestStatus.TOO_MANY_REQUESTS, item.getFailure().getStatus());
        assertThat(item.getFailureMessage(), containsString("rejected"));
        rejected++;
      } else {
        assertEquals(expected, client().prepareGet("photos", item.getId()).get().getSourceAsMap().get("caption"));
        captioned++;
      }
    }
    // The first document runs, the second waits; the rest arrive within microseconds, while the first still runs.
    assertThat("captioned", captioned, greaterThanOrEqualTo(2));
    assertThat("rejected", rejected, greaterThanOrEqualTo(1));
    // The node keeps indexing once the pool is free again.
    client().prepareIndex("photos").setId("after").setPipeline("caption")
        .setSource(Map.of("image", Base64.getEncoder().encodeToString(image))).get();
    assertEquals(expected, client().prepareGet("photos", "after").get().getSourceAsMap().get("caption"));
  }
}
