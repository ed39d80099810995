package ai.viscpm.elasticsearch;

import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.lessThanOrEqualTo;

import ai.viscpm.chat.ChatModel;
import com.carrotsearch.randomizedtesting.annotations.ThreadLeakFilters;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.elasticsearch.ElasticsearchParseException;
import org.elasticsearch.action.bulk.BulkItemResponse;
import org.elasticsearch.action.bulk.BulkRequestBuilder;
import org.elasticsearch.action.bulk.BulkResponse;
import org.elasticsearch.action.index.IndexRequest;
import org.elasticsearch.action.ingest.PutPipelineRequest;
import org.elasticsearch.action.support.WriteRequest;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.test.ESSingleNodeTestCase;
import org.elasticsearch.threadpool.ThreadPool;
import org.elasticsearch.threadpool.ThreadPoolStats;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentFactory;
import org.elasticsearch.xcontent.XContentType;
import org.junit.AfterClass;
import org.junit.BeforeClass;

/**
 * The processor on an in-JVM node (the test framework's own node, the fixture model): captions
 * read back from the index are what ChatModel answers for the same image and settings.
 */
@ThreadLeakFilters(defaultFilters = true, filters = JavaCppThreads.class)
public class CaptionProcessorSingleNodeTests extends ESSingleNodeTestCase {
  private static final int MAX_TOKENS = 8;
  private static final int CONCURRENCY = 2;
  private static ChatModel reference;
  private static List<byte[]> images;
  private static Map<Integer, String> expected;

  @BeforeClass
  public static void loadReference() throws Exception {
    reference = TestFixtures.loadModel();
    images = TestFixtures.images();
    expected = new HashMap<>();
    for (int i = 0; i < images.size(); i++) {
      expected.put(i, TestFixtures.answer(reference, images.get(i), CaptionProcessor.DEFAULT_QUESTION, MAX_TOKENS));
      assertFalse("the fixture model answers something for image " + i, expected.get(i).isEmpty());
    }
  }

  @AfterClass
  public static void closeReference() {
    if (reference != null) reference.close();
    reference = null;
    images = null;
    expected = null;
  }

  @Override
  protected Collection<Class<? extends Plugin>> getPlugins() {
    return pluginList(VisCpmPlugin.class, OnFailureRecorderPlugin.class);
  }

  @Override
  protected Settings nodeSettings() {
    return Settings.builder()
        .put(CaptionSettings.MODEL_DIR.getKey(), TestFixtures.modelDir().toString())
        .put(CaptionSettings.CHECKPOINT.getKey(), TestFixtures.checkpoint().toString())
        .put(CaptionSettings.VOCABULARY.getKey(), TestFixtures.vocabulary().toString())
        .put("thread_pool." + VisCpmPlugin.THREAD_POOL + ".size", CONCURRENCY)
        .build();
  }

  private void putPipeline(String id, String json) {
    clusterAdmin().putPipeline(new PutPipelineRequest(id, new BytesArray(json), XContentType.JSON)).actionGet();
  }

  private static String base64(byte[] bytes) {
    return Base64.getEncoder().encodeToString(bytes);
  }

  private static final String CAPTION_PIPELINE = """
      {"processors": [{"viscpm_caption": {"field": "image", "target_field": "meta.caption", "max_tokens": %d}}],
       "on_failure": [{"record_failure": {"target_field": "error"}}]}""".formatted(MAX_TOKENS);

  public void testCaptionsEqualTheJavaApiAnswers() throws Exception {
    putPipeline("caption", CAPTION_PIPELINE);
    for (int i = 0; i < images.size(); i++) {
      client().prepareIndex("photos").setId("p" + i).setPipeline("caption")
          .setSource(Map.of("image", base64(images.get(i)), "n", i)).get();
    }
    for (int i = 0; i < images.size(); i++) {
      Map<String, Object> source = client().prepareGet("photos", "p" + i).get().getSourceAsMap();
      assertNull("no failure for image " + i, source.get("error"));
      @SuppressWarnings("unchecked")
      Map<String, Object> meta = (Map<String, Object>) source.get("meta");
      assertEquals("image " + i, expected.get(i), meta.get("caption"));
    }
  }

  public void testBinaryImageFieldAndOwnQuestion() throws Exception {
    String question = "What colours do you see?";
    putPipeline("ask", """
        {"processors": [{"viscpm_caption": {"field": "image", "question": "%s", "max_tokens": 6}}]}""".formatted(question));
    byte[] image = images.get(1);
    // CBOR keeps the bytes binary: the processor gets a byte[] rather than base64 text.
    XContentBuilder cbor = XContentFactory.cborBuilder().startObject().field("image", image).endObject();
    client().prepareIndex("photos").setId("bin").setPipeline("ask").setSource(cbor).get();
    Map<String, Object> source = client().prepareGet("photos", "bin").get().getSourceAsMap();
    assertEquals(TestFixtures.answer(reference, image, question, 6), source.get(CaptionProcessor.DEFAULT_TARGET_FIELD));
  }

  public void testCorruptImageFailsThatDocumentThroughOnFailureAndIndexingGoesOn() throws Exception {
    putPipeline("caption", CAPTION_PIPELINE);
    BulkResponse bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE)
        .add(new IndexRequest("photos").id("corrupt").setPipeline("caption")
            .source(Map.of("image", base64(TestFixtures.corruptImage()))))
        .add(new IndexRequest("photos").id("not-base64").setPipeline("caption").source(Map.of("image", "not an image!")))
        .add(new IndexRequest("photos").id("good").setPipeline("caption").source(Map.of("image", base64(images.get(0)))))
        .get();
    assertFalse(bulk.buildFailureMessage(), bulk.hasFailures());
    Map<String, Object> corrupt = client().prepareGet("photos", "corrupt").get().getSourceAsMap();
    assertThat((String) corrupt.get("error"), containsString("field [image] does not hold an image VisCPM can decode"));
    assertNull(corrupt.get("meta"));
    Map<String, Object> notBase64 = client().prepareGet("photos", "not-base64").get().getSourceAsMap();
    assertThat((String) notBase64.get("error"), containsString("cannot read an image from field [image]"));
    @SuppressWarnings("unchecked")
    Map<String, Object> good = (Map<String, Object>) client().prepareGet("photos", "good").get().getSourceAsMap().get("meta");
    assertEquals(expected.get(0), good.get("caption"));
  }

  public void testWithoutOnFailureTheBulkItemCarriesTheMessage() {
    putPipeline("strict", """
        {"processors": [{"viscpm_caption": {"field": "image"}}]}""");
    BulkResponse bulk = client().prepareBulk()
        .add(new IndexRequest("photos").id("corrupt").setPipeline("strict")
            .source(Map.of("image", base64(TestFixtures.corruptImage()))))
        .add(new IndexRequest("photos").id("missing").setPipeline("strict").source(Map.of("other", 1)))
        .get();
    BulkItemResponse corrupt = bulk.getItems()[0];
    assertTrue(corrupt.isFailed());
    assertEquals(400, corrupt.getFailure().getStatus().getStatus());
    assertThat(corrupt.getFailureMessage(), containsString("does not hold an image VisCPM can decode"));
    BulkItemResponse missing = bulk.getItems()[1];
    assertTrue(missing.isFailed());
    assertThat(missing.getFailureMessage(), containsString("[image]"));
  }

  public void testIgnoreMissingLeavesTheDocumentAlone() {
    putPipeline("lenient", """
        {"processors": [{"viscpm_caption": {"field": "image", "ignore_missing": true}}]}""");
    client().prepareIndex("photos").setId("text-only").setPipeline("lenient").setSource(Map.of("title", "no picture")).get();
    assertEquals(Map.of("title", "no picture"), client().prepareGet("photos", "text-only").get().getSourceAsMap());
  }

  public void testManyDocumentsInOneBulkRunOnTheBoundedPool() throws Exception {
    putPipeline("caption", CAPTION_PIPELINE);
    long completedBefore = stats().completed();
    int documents = 40;
    BulkRequestBuilder bulk = client().prepareBulk().setRefreshPolicy(WriteRequest.RefreshPolicy.IMMEDIATE);
    for (int d = 0; d < documents; d++) {
      bulk.add(new IndexRequest("photos").id("b" + d).setPipeline("caption")
          .source(Map.of("image", base64(images.get(d % images.size())))));
    }
    BulkResponse response = bulk.get();
    assertFalse(response.buildFailureMessage(), response.hasFailures());
    for (int d = 0; d < documents; d++) {
      @SuppressWarnings("unchecked")
      Map<String, Object> meta = (Map<String, Object>) client().prepareGet("photos", "b" + d).get().getSourceAsMap().get("meta");
      assertEquals("document " + d, expected.get(d % images.size()), meta.get("caption"));
    }
    ThreadPoolStats.Stats after = stats();
    assertThat("every caption ran on the viscpm pool", after.completed() - completedBefore, greaterThanOrEqualTo((long) documents));
    assertThat("at most the configured inferences at once", after.largest(), lessThanOrEqualTo(CONCURRENCY));
    assertEquals(0, after.rejected());
  }

  private ThreadPoolStats.Stats stats() {
    for (ThreadPoolStats.Stats s : getInstanceFromNode(ThreadPool.class).stats()) {
      if (s.name().equals(VisCpmPlugin.THREAD_POOL)) return s;
    }
    throw new AssertionError("no " + VisCpmPlugin.THREAD_POOL + " thread pool on the node");
  }

  public void testBadOptionsAreRejectedWhenThePipelineIsPut() {
    ElasticsearchParseException tooLong = expectThrows(ElasticsearchParseException.class, () -> putPipeline("bad", """
        {"processors": [{"viscpm_caption": {"field": "image", "max_tokens": 100000}}]}"""));
    assertThat(tooLong.getMessage(), containsString("must be between 2 and 256"));
    ElasticsearchParseException noField = expectThrows(ElasticsearchParseException.class, () -> putPipeline("bad", """
        {"processors": [{"viscpm_caption": {"target_field": "c"}}]}"""));
    assertThat(noField.getMessage(), containsString("[field] required property is missing"));
    ElasticsearchParseException unknown = expectThrows(ElasticsearchParseException.class, () -> putPipeline("bad", """
        {"processors": [{"viscpm_caption": {"field": "image", "prompt": "x"}}]}"""));
    assertThat(unknown.getMessage(), containsString("prompt"));
  }
}
