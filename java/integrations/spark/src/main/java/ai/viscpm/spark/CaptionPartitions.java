package ai.viscpm.spark;

import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import java.nio.file.Path;
import java.util.Iterator;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;

/**
 * Captions one partition, row by row as Spark pulls them (nothing is buffered): a chat session
 * takes one image, so a row is the model's unit of work and the executor's parallelism comes
 * from its concurrent tasks sharing one {@link ChatModel}.
 */
final class CaptionPartitions implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;

  private final CaptionOptions options;
  private final int imageIndex;
  private final boolean imageIsPath;

  CaptionPartitions(CaptionOptions options, int imageIndex, boolean imageIsPath) {
    this.options = options;
    this.imageIndex = imageIndex;
    this.imageIsPath = imageIsPath;
  }

  @Override
  public Iterator<Row> call(Iterator<Row> rows) throws Exception {
    if (!rows.hasNext()) return rows;  // an empty partition loads no model
    TaskThreads.apply(options.threads());
    ChatModel model = ExecutorModels.chat(options.model());  // a model that cannot load fails the job: not a row's fault
    GenerationConfig config = options.generationConfig();
    int partition = TaskContext.getPartitionId();
    return new Iterator<>() {
      private long index;

      @Override
      public boolean hasNext() {
        return rows.hasNext();
      }

      @Override
      public Row next() {
        Row row = rows.next();
        long rowIndex = index++;
        String caption = null;
        String error = null;
        try {
          caption = caption(model, row, config);
        } catch (Exception e) {
          if (!RowErrors.isRowFailure(e)) throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
          error = RowErrors.describe(e);
          if (options.failFast()) {
            throw new RowFailedException("caption", options.imageColumn(), partition, rowIndex, error, e);
          }
        }
        return Rows.append(row, caption, error);
      }
    };
  }

  private String caption(ChatModel model, Row row, GenerationConfig config) throws Exception {
    if (row.isNullAt(imageIndex)) throw new RowErrors.BadRowException("no image: the cell is null");
    try (ChatSession session = imageIsPath
        ? model.newSession(Path.of(row.getString(imageIndex)))
        : model.newSession((byte[]) row.get(imageIndex))) {
      return session.ask(options.question(), config, null).text();
    }
  }
}
