package ai.viscpm.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;

/**
 * A ready-made job: captions every image under a path (Spark's {@code binaryFile} source) and
 * writes {@code path, caption, viscpm_error} as JSON lines.
 *
 * <pre>
 * spark-submit --class ai.viscpm.spark.CaptionImages --jars JARS viscpm-spark.jar \
 *   MODEL_DIR IMAGES OUTPUT [QUESTION [MAX_TOKENS [PARTITIONS]]]
 * </pre>
 *
 * MODEL_DIR is as {@link ModelFiles} takes it: absolute on every node, or the name of an
 * archive shipped with {@code --archives}.
 */
public final class CaptionImages {
  private CaptionImages() {}

  public static void main(String[] args) {
    if (args.length < 3) {
      System.err.println("usage: CaptionImages MODEL_DIR IMAGES OUTPUT [QUESTION [MAX_TOKENS [PARTITIONS]]]");
      System.exit(2);
    }
    SparkSession spark = SparkSession.builder().appName("viscpm-caption-images").getOrCreate();
    try {
      CaptionOptions.Builder options = CaptionOptions.builder(ModelFiles.of(args[0])).imageColumn("content");
      if (args.length > 3) options.question(args[3]);
      if (args.length > 4) options.maxTokens(Integer.parseInt(args[4]));
      Dataset<Row> images = spark.read().format("binaryFile").load(args[1]).select("path", "content");
      // binaryFile packs many small files into few partitions: spread them over the cores.
      int partitions = args.length > 5 ? Integer.parseInt(args[5]) : spark.sparkContext().defaultParallelism();
      VisCpmSpark.caption(images.repartition(partitions), options.build()).drop("content")
          .write().mode(SaveMode.ErrorIfExists).json(args[2]);
    } finally {
      spark.stop();
    }
  }
}
