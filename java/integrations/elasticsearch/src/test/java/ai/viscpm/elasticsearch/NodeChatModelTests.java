package ai.viscpm.elasticsearch;

import static org.hamcrest.Matchers.containsString;

import ai.viscpm.ResourceNotFoundException;
import com.carrotsearch.randomizedtesting.annotations.ThreadLeakFilters;
import java.nio.file.Files;
import java.nio.file.Path;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.env.TestEnvironment;
import org.elasticsearch.test.ESTestCase;
import org.junit.BeforeClass;

/** Loading the node's model from its settings: paths relative to the config folder, typed errors naming the path. */
@ThreadLeakFilters(defaultFilters = true, filters = JavaCppThreads.class)
public class NodeChatModelTests extends ESTestCase {
  /**
   * Loads the native libraries from JavaCPP's usual cache first: NodeChatModel would otherwise
   * unpack them (about 470 MB) into this test's temporary "node" folder.
   */
  @BeforeClass
  public static void loadNativeLibraries() throws Exception {
    TestFixtures.loadModel().close();
  }

  private Environment environment(Settings.Builder settings) {
    return TestEnvironment.newEnvironment(settings.put("path.home", createTempDir().toString()).build());
  }

  public void testRelativePathsResolveAgainstTheConfigFolder() throws Exception {
    Settings.Builder settings = Settings.builder().put(CaptionSettings.MODEL_DIR.getKey(), "viscpm/chat");
    Environment env = environment(settings);
    Path model = env.configDir().resolve("viscpm/chat");
    Files.createDirectories(model.resolve("vocab"));
    for (String file : new String[] {"cpm-bee.json", "beit3.json", "viscpm_chat.pt"}) {
      Files.copy(TestFixtures.modelDir().resolve(file), model.resolve(file));
    }
    Files.copy(TestFixtures.vocabulary(), model.resolve("vocab/bee.txt"));
    try (NodeChatModel loaded = NodeChatModel.load(env.settings(), env)) {
      assertTrue(loaded.configured());
      assertEquals(model, loaded.modelDir());
      assertNotNull(loaded.get());
    }
  }

  public void testAMissingFolderIsATypedErrorNamingThePath() {
    Environment env = environment(Settings.builder().put(CaptionSettings.MODEL_DIR.getKey(), "no/such/model"));
    ResourceNotFoundException e = expectThrows(ResourceNotFoundException.class, () -> NodeChatModel.load(env.settings(), env));
    assertThat(e.getMessage(), containsString(env.configDir().resolve("no/such/model").toString()));
  }

  public void testNoSettingMeansNoModelAndAClearMessage() throws Exception {
    Environment env = environment(Settings.builder());
    try (NodeChatModel none = NodeChatModel.load(env.settings(), env)) {
      assertFalse(none.configured());
      IllegalStateException e = expectThrows(IllegalStateException.class, none::get);
      assertThat(e.getMessage(), containsString("set [viscpm.chat.model_dir] in elasticsearch.yml"));
    }
  }
}
