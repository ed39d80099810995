// Throughput of VisCPM batch inference on Spark (java/integrations/spark): rows/s for a plain
// single-thread loop over the public Java API, and for VisCpmSpark in local[1] and local[2],
// each at LibTorch intra-op thread counts of 1 and 2, on the fixture models (tiny, random
// weights). Not a test: numbers, never pass/fail. Run it with benchmarks/spark/run.sh.
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.spark.CaptionOptions;
import ai.viscpm.spark.ModelFiles;
import ai.viscpm.spark.PaintOptions;
import ai.viscpm.spark.VisCpmSpark;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import javax.imageio.ImageIO;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

public class SparkBench {
  static final int PARTITIONS = 8;

  interface Work {
    void run() throws Exception;
  }

  static final int REPEATS = 3;

  static double seconds(Work w) throws Exception {
    long t = System.nanoTime();
    w.run();
    return (System.nanoTime() - t) / 1e9;
  }

  /**
   * Runs on a thread of its own, as an application's worker would: on the JVM's main thread
   * LibTorch at 2 threads ran 10x slower here with libgomp's default (active) waiting.
   */
  static double[] onWorkerThread(java.util.concurrent.Callable<double[]> work) throws Exception {
    java.util.concurrent.ExecutorService worker = java.util.concurrent.Executors.newSingleThreadExecutor();
    try {
      return worker.submit(work).get();
    } finally {
      worker.shutdown();
    }
  }

  /** rows/s of REPEATS timed runs, best first then worst: the machine is shared, the best is the least disturbed. */
  static double[] rowsPerSecond(int rows, Work w) throws Exception {
    double best = 0, worst = Double.MAX_VALUE;
    for (int i = 0; i < REPEATS; i++) {
      double rps = rows / seconds(w);
      best = Math.max(best, rps);
      worst = Math.min(worst, rps);
    }
    return new double[] {best, worst};
  }

  static byte[] png(int seed) throws Exception {
    int w = 64 + 13 * (seed % 7), h = 48 + 11 * (seed % 5);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) img.setRGB(x, y, (x * (seed + 3)) % 256 << 16 | (y * 7 + seed * 29) % 256 << 8 | (x ^ y) % 256);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  static byte[] pngOf(ai.viscpm.paint.PaintResult r) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(r.toBufferedImage(0), "png", out);
    return out.toByteArray();
  }

  static SparkSession start(String master) {
    return SparkSession.builder().master(master).appName("viscpm-spark-bench").config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
  }

  static void check(List<Row> rows, int n, String errorColumn) {
    if (rows.size() != n) throw new IllegalStateException("expected " + n + " rows, got " + rows.size());
    for (Row r : rows) if (r.getAs(errorColumn) != null) throw new IllegalStateException("row failed: " + r.getAs(errorColumn));
  }

  /** rows/s of one Spark configuration: one warm-up job (models load, JIT), then the timed one. */
  static double[] sparkRowsPerSecond(String master, int threads, List<Row> rows, StructType schema,
      Function<Dataset<Row>, Dataset<Row>> job, String errorColumn) throws Exception {
    SparkSession spark = start(master);
    try {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      Dataset<Row> in = spark.createDataFrame(jsc.parallelize(rows, PARTITIONS), schema);
      check(job.apply(in.limit(Math.min(rows.size(), 4))).collectAsList(), Math.min(rows.size(), 4), errorColumn);
      return rowsPerSecond(rows.size(), () -> check(job.apply(in).collectAsList(), rows.size(), errorColumn));
    } finally {
      spark.stop();
    }
  }

  public static void main(String[] args) throws Exception {
    Path fixtures = Path.of(args.length > 0 ? args[0] : "../shared/fixtures").toAbsolutePath().normalize();
    int captionRows = args.length > 1 ? Integer.parseInt(args[1]) : 48;
    int paintRows = args.length > 2 ? Integer.parseInt(args[2]) : 24;
    int maxTokens = 32, steps = 6, side = 128;
    ModelFiles chatFiles = new ModelFiles(fixtures.resolve("models/chat").toString(),
        fixtures.resolve("models/chat/viscpm_chat.pt").toString(), fixtures.resolve("vocab/bee.txt").toString(), "cpu");
    ModelFiles paintFiles = ModelFiles.of(fixtures.resolve("models/paint").toString())
        .withVocabulary(fixtures.resolve("vocab/bee.txt").toString());

    StructType imageSchema = new StructType().add("id", DataTypes.IntegerType).add("image", DataTypes.BinaryType);
    List<Row> images = new ArrayList<>();
    for (int i = 0; i < captionRows; i++) images.add(RowFactory.create(i, png(i)));
    StructType promptSchema = new StructType().add("id", DataTypes.IntegerType).add("prompt", DataTypes.StringType)
        .add("row_seed", DataTypes.LongType);
    String[] words = {"a red hat", "一只橘猫", "blue sea at dawn", "green grass", "a lighthouse", "雪山"};
    List<Row> prompts = new ArrayList<>();
    for (int i = 0; i < paintRows; i++) prompts.add(RowFactory.create(i, words[i % words.length] + " " + i, (long) i));

    System.out.println("OMP_WAIT_POLICY=" + System.getenv().getOrDefault("OMP_WAIT_POLICY", "(unset: libgomp's default)"));
    System.out.printf("caption: %d rows (PNG %dx%d..%dx%d), beam search, <= %d tokens; paint: %d rows, %d steps, %dx%d, "
        + "ddpm; %d partitions for Spark%n", captionRows, 64, 48, 64 + 13 * 6, 48 + 11 * 4, maxTokens, paintRows, steps,
        side, side, PARTITIONS);
    System.out.println();
    System.out.println("rows/s: best of " + REPEATS + " timed runs after a warm-up (worst in brackets)");
    System.out.println();
    System.out.println("| workload | runner | intra-op threads | rows/s |");
    System.out.println("|---|---|---|---|");
    for (String workload : new String[] {"caption", "paint"}) {
      boolean caption = workload.equals("caption");
      for (int threads : new int[] {1, 2}) {
        CaptionOptions co = CaptionOptions.builder(chatFiles).maxTokens(maxTokens).threads(threads).build();
        PaintOptions po = PaintOptions.builder(paintFiles).seedColumn("row_seed").steps(steps).size(side, side)
            .threads(threads).build();
        // The plain loop: one thread, the public API, the same settings.
        VisCpm.setThreads(threads);
        double[] loop;
        if (caption) {
          try (ChatModel model = ChatModel.load(Path.of(chatFiles.modelDir()), Path.of(chatFiles.checkpoint()), null, null,
              Path.of(chatFiles.vocabulary()), ModelOptions.defaults())) {
            Work all = () -> {
              for (Row r : images) try (ChatSession s = model.newSession((byte[]) r.get(1))) {
                s.ask(co.question(), co.generationConfig(), null);
              }
            };
            loop = onWorkerThread(() -> {
              all.run();  // warm-up
              return rowsPerSecond(images.size(), all);
            });
          }
        } else {
          try (PaintModel model = PaintModel.load(Path.of(paintFiles.modelDir()), null, Path.of(paintFiles.vocabulary()),
              ModelOptions.defaults())) {
            Work all = () -> {
              for (Row r : prompts) pngOf(model.generate(po.request(r.getString(1), r.getLong(2))));  // as the rows get
            };
            loop = onWorkerThread(() -> {
              model.generate(po.request("warm-up", 0L));
              return rowsPerSecond(prompts.size(), all);
            });
          }
        }
        System.out.printf("| %s | plain loop (1 worker thread) | %d | %.1f (%.1f) |%n", workload, threads, loop[0], loop[1]);
        for (String master : new String[] {"local[1]", "local[2]"}) {
          double[] rps = caption
              ? sparkRowsPerSecond(master, threads, images, imageSchema, in -> VisCpmSpark.caption(in, co), "viscpm_error")
              : sparkRowsPerSecond(master, threads, prompts, promptSchema, in -> VisCpmSpark.paint(in, po), "viscpm_error");
          System.out.printf("| %s | Spark %s | %d%s | %.1f (%.1f) |%n", workload, master, threads,
              threads == 1 ? " (default: spark.task.cpus)" : "", rps[0], rps[1]);
        }
      }
    }
    VisCpmSpark.closeModels();
  }
}
