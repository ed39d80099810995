package ai.viscpm.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintResult;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import javax.imageio.ImageIO;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spark in local[2] (two tasks in parallel, one JVM) over the fixture models: every row's
 * result must be what the model gives in-process for the same input and settings.
 */
class VisCpmSparkTest {
  private static final String QUESTION = "What is in the picture?";
  private static final StructType IMAGES = new StructType().add("id", DataTypes.IntegerType, false)
      .add("image", DataTypes.BinaryType, true);
  private static final StructType PROMPTS = new StructType().add("id", DataTypes.IntegerType, false)
      .add("prompt", DataTypes.StringType, true).add("row_seed", DataTypes.LongType, true);

  private static SparkSession spark;
  private static JavaSparkContext jsc;
  private static ModelFiles chatFiles;
  private static ModelFiles paintFiles;
  private static ChatModel chat;
  private static PaintModel paint;

  @BeforeAll
  static void start() throws Exception {
    Path fixtures = TestFixtures.dir();
    chatFiles = new ModelFiles(fixtures.resolve("models/chat").toString(),
        fixtures.resolve("models/chat/viscpm_chat.pt").toString(), fixtures.resolve("vocab/bee.txt").toString(), "cpu");
    paintFiles = ModelFiles.of(fixtures.resolve("models/paint").toString())
        .withVocabulary(fixtures.resolve("vocab/bee.txt").toString());
    // Results depend on LibTorch's intra-op thread count (the order of float sums): the
    // references run at the count each task uses by default, spark.task.cpus = 1.
    VisCpm.setThreads(1);
    // The in-process references: models of their own, not the executor's.
    chat = ChatModel.load(Path.of(chatFiles.modelDir()), Path.of(chatFiles.checkpoint()), null, null,
        Path.of(chatFiles.vocabulary()), ModelOptions.defaults());
    paint = PaintModel.load(Path.of(paintFiles.modelDir()), null, Path.of(paintFiles.vocabulary()),
        ModelOptions.defaults());
    spark = SparkSession.builder().master("local[2]").appName("viscpm-spark-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
  }

  @AfterAll
  static void stop() {
    if (spark != null) spark.stop();
    VisCpmSpark.closeModels();
    if (chat != null) chat.close();
    if (paint != null) paint.close();
  }

  private static Dataset<Row> twoPartitions(List<Row> rows, StructType schema) {
    Dataset<Row> ds = spark.createDataFrame(jsc.parallelize(rows, 2), schema);
    assertEquals(2, ds.javaRDD().getNumPartitions());
    return ds;
  }

  /** Small PNGs of different sizes and colours: each gets its own answer. */
  private static byte[] syntheticPng(int seed) throws Exception {
    int w = 20 + 7 * seed, h = 16 + 5 * seed;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) img.setRGB(x, y, (x * 37 * (seed + 1)) % 256 << 16 | (y * 53 + seed * 40) % 256 << 8 | (x + y) * 11 % 256);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  private static String answerInProcess(byte[] image, CaptionOptions options) throws Exception {
    try (ChatSession s = chat.newSession(image)) {
      return s.ask(options.question(), options.generationConfig(), null).text();
    }
  }

  private static byte[] pngInProcess(PaintResult r, int i) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(r.toBufferedImage(i), "png", out);
    return out.toByteArray();
  }

  private static List<Row> sortedById(Dataset<Row> ds) {
    List<Row> rows = new ArrayList<>(ds.collectAsList());
    rows.sort((a, b) -> Integer.compare(a.getInt(0), b.getInt(0)));
    return rows;
  }

  @Test
  void captionsEqualInProcessAnswersRowByRowAndBadRowsGetAnError() throws Exception {
    byte[][] images = new byte[8][];
    images[0] = Files.readAllBytes(TestFixtures.dir().resolve("cases/chat_beam_search/image.png"));
    images[1] = Files.readAllBytes(TestFixtures.dir().resolve("cases/image_preprocess/image.png"));
    for (int i = 2; i < 8; i++) images[i] = syntheticPng(i);
    images[3] = "not an image at all".getBytes(StandardCharsets.UTF_8);  // corrupt
    images[6] = null;                                                   // missing
    List<Row> input = new ArrayList<>();
    for (int i = 0; i < images.length; i++) input.add(RowFactory.create(i, images[i]));
    CaptionOptions options = CaptionOptions.builder(chatFiles).question(QUESTION).maxTokens(10).build();

    List<Row> out = sortedById(VisCpmSpark.caption(twoPartitions(input, IMAGES), options));

    assertEquals(images.length, out.size());
    assertEquals(List.of("id", "image", "caption", "viscpm_error"), Arrays.asList(out.get(0).schema().fieldNames()));
    for (int i = 0; i < images.length; i++) {
      Row r = out.get(i);
      assertArrayEquals(images[i], (byte[]) r.get(1), "the input columns are kept, row " + i);
      if (i == 3 || i == 6) {
        assertNull(r.get(2), "no caption for bad row " + i);
        assertNotNull(r.getString(3), "an error for bad row " + i);
      } else {
        assertNull(r.get(3), "no error for row " + i + ": " + r.get(3));
        assertEquals(answerInProcess(images[i], options), r.getString(2), "row " + i);
      }
    }
    assertTrue(out.get(3).getString(3).startsWith("InvalidInputException: image data is not a PNG"),
        out.get(3).getString(3));
    assertEquals("no image: the cell is null", out.get(6).getString(3));
    assertEquals(1, ExecutorModels.chatLoads(chatFiles), "both tasks share one model in this executor JVM");
  }

  @Test
  void failFastFailsTheJobNamingTheRowAndTheReason() throws Exception {
    List<Row> input = List.of(RowFactory.create(0, syntheticPng(1)), RowFactory.create(1, syntheticPng(2)),
        RowFactory.create(2, "garbage".getBytes(StandardCharsets.UTF_8)), RowFactory.create(3, syntheticPng(3)));
    CaptionOptions options = CaptionOptions.builder(chatFiles).question(QUESTION).maxTokens(4).failFast(true).build();
    Dataset<Row> captions = VisCpmSpark.caption(twoPartitions(input, IMAGES), options);

    SparkException e = assertThrows(SparkException.class, captions::collectAsList);
    // parallelize(4 rows, 2) puts rows 2 and 3 in partition 1: the bad row is its row 0.
    assertTrue(e.getMessage().contains("VisCPM caption failed on row 0 of partition 1 (column 'image'): InvalidInputException"),
        e.getMessage());
    assertTrue(e.getMessage().contains("failFast(false)"), e.getMessage());
  }

  @Test
  void aPathColumnIsReadOnTheExecutorAndAMissingFileIsThatRowsError(@TempDir Path dir) throws Exception {
    Path good = dir.resolve("good.png");
    Files.write(good, syntheticPng(4));
    List<Row> input = List.of(RowFactory.create(0, good.toString()),
        RowFactory.create(1, dir.resolve("missing.png").toString()));
    StructType schema = new StructType().add("id", DataTypes.IntegerType).add("path", DataTypes.StringType);
    CaptionOptions options = CaptionOptions.builder(chatFiles).imageColumn("path").question(QUESTION).maxTokens(6)
        .decoding(ai.viscpm.chat.GenerationConfig.Decoding.GREEDY).build();

    List<Row> out = sortedById(VisCpmSpark.caption(twoPartitions(input, schema), options));

    assertEquals(answerInProcess(Files.readAllBytes(good), options), out.get(0).getString(2));
    assertNull(out.get(1).get(2));
    assertTrue(out.get(1).getString(3).startsWith("ResourceNotFoundException: "), out.get(1).getString(3));
  }

  @Test
  void paintedPngsEqualInProcessPaintingsWithTheSameSeeds() throws Exception {
    int side = paint.sizeMultiple();
    List<Row> input = List.of(RowFactory.create(0, "a red hat", 1L), RowFactory.create(1, "一只橘猫", 2L),
        RowFactory.create(2, null, 3L), RowFactory.create(3, "a red hat", 4L), RowFactory.create(4, "blue sea", null));
    PaintOptions options = PaintOptions.builder(paintFiles).seedColumn("row_seed").seed(99).steps(2).size(side, side)
        .build();

    List<Row> out = sortedById(VisCpmSpark.paint(twoPartitions(input, PROMPTS), options));

    assertEquals(List.of("id", "prompt", "row_seed", "image", "seed", "viscpm_error"),
        Arrays.asList(out.get(0).schema().fieldNames()));
    long[] seeds = {1, 2, 3, 4, 99};  // row 4 has no seed of its own: the options' seed
    for (int i = 0; i < out.size(); i++) {
      Row r = out.get(i);
      if (i == 2) {
        assertNull(r.get(3));
        assertNull(r.get(4));
        assertEquals("no prompt: the cell is null", r.getString(5));
        continue;
      }
      assertNull(r.get(5), "no error for row " + i);
      assertEquals(seeds[i], r.getLong(4), "seed of row " + i);
      PaintResult expected = paint.generate(options.request(r.getString(1), seeds[i]));
      assertArrayEquals(pngInProcess(expected, 0), (byte[]) r.get(3), "PNG bytes of row " + i);
    }
  }

  @Test
  void severalImagesPerRowArePaintedInOneRequest() throws Exception {
    int side = paint.sizeMultiple();
    List<Row> input = List.of(RowFactory.create(0, "a red hat", 7L), RowFactory.create(1, "green grass", 8L));
    PaintOptions options = PaintOptions.builder(paintFiles).seedColumn("row_seed").steps(2).size(side, side)
        .imagesPerRow(2).scheduler("ddim").build();

    List<Row> out = sortedById(VisCpmSpark.paint(twoPartitions(input, PROMPTS), options));

    for (Row r : out) {
      PaintResult expected = paint.generate(options.request(r.getString(1), r.getLong(2)));
      List<byte[]> images = r.getList(3);
      assertEquals(2, images.size());
      for (int i = 0; i < 2; i++) assertArrayEquals(pngInProcess(expected, i), images.get(i), "image " + i);
    }
  }

  @Test
  void aRowWithoutAnySeedRecordsTheSeedThatRepaintsIt() throws Exception {
    int side = paint.sizeMultiple();
    List<Row> input = List.of(RowFactory.create(0, "a red hat", null), RowFactory.create(1, "a red hat", null));
    PaintOptions options = PaintOptions.builder(paintFiles).steps(2).size(side, side).build();

    List<Row> out = sortedById(VisCpmSpark.paint(twoPartitions(input, PROMPTS), options));

    for (Row r : out) {
      PaintResult again = paint.generate(options.request(r.getString(1), r.getLong(4)));
      assertArrayEquals(pngInProcess(again, 0), (byte[]) r.get(3));
    }
  }

  @Test
  void aModelShippedWithTheJobAsAnArchiveIsFoundByItsRelativeName(@TempDir Path dir) throws Exception {
    // What --archives viscpm-chat.zip#viscpm-chat-shipped does on a cluster: a model folder unpacked on every node.
    Path zip = dir.resolve("viscpm-chat.zip");
    Path fixtures = TestFixtures.dir();
    try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(zip))) {
      for (String[] entry : new String[][] {{"viscpm_chat.pt", "models/chat/viscpm_chat.pt"},
          {"cpm-bee.json", "models/chat/cpm-bee.json"}, {"beit3.json", "models/chat/beit3.json"},
          {"vocab/bee.txt", "vocab/bee.txt"}}) {
        out.putNextEntry(new ZipEntry(entry[0]));
        Files.copy(fixtures.resolve(entry[1]), out);
        out.closeEntry();
      }
    }
    spark.sparkContext().addArchive(zip + "#viscpm-chat-shipped");
    byte[] image = syntheticPng(5);
    CaptionOptions options = CaptionOptions.builder(ModelFiles.of("viscpm-chat-shipped")).question(QUESTION)
        .maxTokens(6).build();

    List<Row> out = sortedById(VisCpmSpark.caption(twoPartitions(List.of(RowFactory.create(0, image)), IMAGES), options));

    assertNull(out.get(0).get(3), String.valueOf(out.get(0).get(3)));
    assertEquals(answerInProcess(image, options), out.get(0).getString(2));
  }

  @Test
  void aModelThatCannotLoadFailsTheJobEvenWithoutFailFast(@TempDir Path empty) {
    List<Row> input = List.of(RowFactory.create(0, "a red hat", 1L));
    PaintOptions options = PaintOptions.builder(ModelFiles.of(empty.toString())).steps(1).build();
    SparkException e = assertThrows(SparkException.class,
        () -> VisCpmSpark.paint(twoPartitions(input, PROMPTS), options).collectAsList());
    assertTrue(e.getMessage().contains("ResourceNotFoundException"), e.getMessage());
  }

  @Test
  void columnMistakesAreReportedOnTheDriver() {
    Dataset<Row> ds = twoPartitions(List.of(RowFactory.create(0, "x", 1L)), PROMPTS);
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> VisCpmSpark.caption(ds, CaptionOptions.builder(chatFiles).build()));
    assertTrue(missing.getMessage().contains("no image column 'image'"), missing.getMessage());
    IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
        () -> VisCpmSpark.caption(ds, CaptionOptions.builder(chatFiles).imageColumn("id").build()));
    assertTrue(type.getMessage().contains("must be binary"), type.getMessage());
    IllegalArgumentException clash = assertThrows(IllegalArgumentException.class,
        () -> VisCpmSpark.paint(ds, PaintOptions.builder(paintFiles).seedOutputColumn("row_seed").build()));
    assertTrue(clash.getMessage().contains("already has a column 'row_seed'"), clash.getMessage());
    IllegalArgumentException tooShort = assertThrows(IllegalArgumentException.class,
        () -> CaptionOptions.builder(chatFiles).maxTokens(1).build());
    assertTrue(tooShort.getMessage().contains("maxTokens must be >= 2 for BEAM_SEARCH"), tooShort.getMessage());
  }
}
