package ai.viscpm.spark;

import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintResult;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import javax.imageio.ImageIO;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import scala.collection.immutable.ArraySeq;

/**
 * Paints one partition, row by row as Spark pulls them. The model paints one prompt per
 * request, so rows are not merged; {@link PaintOptions#imagesPerRow()} images of a row share
 * one request (one text encoding, one batched denoising loop).
 */
final class PaintPartitions implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;

  private final PaintOptions options;
  private final int promptIndex;
  private final int seedIndex;  // -1: no seed column

  PaintPartitions(PaintOptions options, int promptIndex, int seedIndex) {
    this.options = options;
    this.promptIndex = promptIndex;
    this.seedIndex = seedIndex;
  }

  @Override
  public Iterator<Row> call(Iterator<Row> rows) throws Exception {
    if (!rows.hasNext()) return rows;  // an empty partition loads no model
    TaskThreads.apply(options.threads());
    PaintModel model = ExecutorModels.paint(options.model());
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
        Object image = null;
        Long seed = null;
        String error = null;
        try {
          PaintResult result = paint(model, row);
          seed = result.seed();
          image = options.imagesPerRow() == 1 ? png(result, 0) : allPngs(result);
        } catch (Exception e) {
          if (!RowErrors.isRowFailure(e)) throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
          error = RowErrors.describe(e);
          if (options.failFast()) {
            throw new RowFailedException("paint", options.promptColumn(), partition, rowIndex, error, e);
          }
        }
        return Rows.append(row, image, seed, error);
      }
    };
  }

  private PaintResult paint(PaintModel model, Row row) throws Exception {
    if (row.isNullAt(promptIndex)) throw new RowErrors.BadRowException("no prompt: the cell is null");
    Long rowSeed = seedIndex < 0 || row.isNullAt(seedIndex) ? null : ((Number) row.get(seedIndex)).longValue();
    return model.generate(options.request(row.getString(promptIndex), rowSeed));
  }

  /** The images as the Scala Seq Spark's row encoder wants for an array column. */
  private static Object allPngs(PaintResult result) {
    byte[][] images = new byte[result.count()][];
    for (int i = 0; i < images.length; i++) images[i] = png(result, i);
    return ArraySeq.unsafeWrapArray(images);
  }

  /** PNG bytes of image i, as {@link PaintResult#writePng} would write them. */
  static byte[] png(PaintResult result, int i) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      if (!ImageIO.write(result.toBufferedImage(i), "png", out)) throw new IOException("no PNG writer in this JVM");
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
