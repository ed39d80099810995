package ai.viscpm.elasticsearch;

import java.util.Map;
import org.elasticsearch.ingest.AbstractProcessor;
import org.elasticsearch.ingest.ConfigurationUtils;
import org.elasticsearch.ingest.IngestDocument;
import org.elasticsearch.ingest.Processor;
import org.elasticsearch.plugins.IngestPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * A real ingest processor for on_failure blocks ({@code record_failure}): copies the failure
 * message into a field. The in-JVM node has no ingest-common module (its {@code set}
 * processor is not published to Maven Central).
 */
public class OnFailureRecorderPlugin extends Plugin implements IngestPlugin {
  @Override
  public Map<String, Processor.Factory> getProcessors(Processor.Parameters parameters) {
    return Map.of("record_failure", (registry, tag, description, config) -> {
      String target = ConfigurationUtils.readStringProperty("record_failure", tag, config, "target_field");
      return new AbstractProcessor(tag, description) {
        @Override
        public IngestDocument execute(IngestDocument document) {
          document.setFieldValue(target, document.getFieldValue("_ingest.on_failure_message", String.class));
          return document;
        }

        @Override
        public String getType() {
          return "record_failure";
        }
      };
    });
  }
}
