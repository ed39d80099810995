package ai.viscpm.spark;

import java.util.Arrays;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * VisCPM over Spark {@code Dataset<Row>}s: every row keeps its columns and gains the result
 * and an error column. The work runs in {@code mapPartitions} on the executors, with one model
 * per executor JVM shared by its tasks (see {@link ModelFiles}); nothing runs until an action.
 *
 * <pre>{@code
 * Dataset<Row> images = spark.read().format("binaryFile").load("hdfs:///pictures/*.jpg");
 * Dataset<Row> captions = VisCpmSpark.caption(images,
 *     CaptionOptions.builder(ModelFiles.of("/models/viscpm-chat")).imageColumn("content").build());
 * }</pre>
 */
public final class VisCpmSpark {
  private VisCpmSpark() {}

  /**
   * Captions the image column: the input columns, then {@code caption} (string) and the error
   * column (string), one of them null.
   *
   * @throws IllegalArgumentException (on the driver) for a missing column, a column of another
   *     type, or output columns that already exist
   */
  public static Dataset<Row> caption(Dataset<Row> images, CaptionOptions options) {
    StructType in = images.schema();
    int imageIndex = column(in, options.imageColumn(), "image");
    DataType type = in.fields()[imageIndex].dataType();
    if (!type.equals(DataTypes.BinaryType) && !type.equals(DataTypes.StringType)) {
      throw new IllegalArgumentException("image column '" + options.imageColumn() + "' is " + type.simpleString()
          + "; it must be binary (encoded image bytes) or string (a path on the executors)");
    }
    StructType out = append(in, DataTypes.createStructField(options.captionColumn(), DataTypes.StringType, true),
        DataTypes.createStructField(options.errorColumn(), DataTypes.StringType, true));
    return images.mapPartitions(new CaptionPartitions(options, imageIndex, type.equals(DataTypes.StringType)),
        Encoders.row(out));
  }

  /**
   * Paints the prompt column: the input columns, then the image column (PNG bytes; an array of
   * them when {@code imagesPerRow > 1}), the seed used (long) and the error column (string).
   *
   * @throws IllegalArgumentException (on the driver) for a missing column, a column of another
   *     type, or output columns that already exist
   */
  public static Dataset<Row> paint(Dataset<Row> prompts, PaintOptions options) {
    StructType in = prompts.schema();
    int promptIndex = column(in, options.promptColumn(), "prompt");
    if (!in.fields()[promptIndex].dataType().equals(DataTypes.StringType)) {
      throw new IllegalArgumentException("prompt column '" + options.promptColumn() + "' is "
          + in.fields()[promptIndex].dataType().simpleString() + "; it must be string");
    }
    int seedIndex = -1;
    if (options.seedColumn() != null) {
      seedIndex = column(in, options.seedColumn(), "seed");
      DataType t = in.fields()[seedIndex].dataType();
      if (!(t instanceof LongType) && !(t instanceof IntegerType)) {
        throw new IllegalArgumentException("seed column '" + options.seedColumn() + "' is " + t.simpleString()
            + "; it must be bigint or int");
      }
    }
    DataType imageType = options.imagesPerRow() == 1 ? DataTypes.BinaryType
        : DataTypes.createArrayType(DataTypes.BinaryType, false);
    StructType out = append(in, DataTypes.createStructField(options.imageColumn(), imageType, true),
        DataTypes.createStructField(options.seedOutputColumn(), DataTypes.LongType, true),
        DataTypes.createStructField(options.errorColumn(), DataTypes.StringType, true));
    return prompts.mapPartitions(new PaintPartitions(options, promptIndex, seedIndex), Encoders.row(out));
  }

  /**
   * Closes the models this JVM loaded (they are otherwise closed at JVM exit). For local mode,
   * where the driver is the executor: frees the weights once the jobs are done.
   */
  public static void closeModels() {
    ExecutorModels.closeAll();
  }

  private static int column(StructType schema, String name, String role) {
    if (!Arrays.asList(schema.fieldNames()).contains(name)) {
      throw new IllegalArgumentException("no " + role + " column '" + name + "' in " + schema.simpleString()
          + " (set it in the options)");
    }
    return schema.fieldIndex(name);
  }

  private static StructType append(StructType in, StructField... added) {
    for (StructField f : added) {
      if (Arrays.asList(in.fieldNames()).contains(f.name())) {
        throw new IllegalArgumentException("the input already has a column '" + f.name()
            + "'; name the output another way in the options");
      }
    }
    StructField[] fields = Arrays.copyOf(in.fields(), in.fields().length + added.length);
    System.arraycopy(added, 0, fields, in.fields().length, added.length);
    return new StructType(fields);
  }
}
