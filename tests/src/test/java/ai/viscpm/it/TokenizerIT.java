package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.text.Encoding;
import ai.viscpm.text.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tokenizer through the Java API agrees with the reference (fixture case `tokenizer`). */
class TokenizerIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Tokenizer tokenizer;

  @BeforeAll
  static void load() throws Exception {
    tokenizer = Tokenizer.load(Fixtures.resolve("vocab/bee.txt"));
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  @Test
  void matchesTheReferenceIdsPiecesExtTablesAndDecoding() throws Exception {
    assertEquals(86583, tokenizer.vocabSize());
    JsonNode expected = JSON.readTree(Fixtures.resolve("cases/tokenizer/expected.json").toFile());
    for (JsonNode c : expected.path("cases")) {
      String text = c.path("text").asText();
      Encoding enc = tokenizer.encode(text);
      assertArrayEquals(JSON.convertValue(c.path("ids"), int[].class), enc.ids(), text);
      List<String> ext = new ArrayList<>();
      c.path("ext_table").fields().forEachRemaining(e -> ext.add(e.getValue().asText()));
      assertEquals(ext, enc.extTable(), text);
      List<String> pieces = new ArrayList<>();
      c.path("pieces").forEach(p -> pieces.add(p.asText()));
      assertEquals(pieces, tokenizer.tokenize(text), text);
      assertEquals(c.path("decoded").asText(), tokenizer.decode(enc), text);
    }
    for (JsonNode e : expected.path("errors")) {
      InvalidInputException ex =
          assertThrows(InvalidInputException.class, () -> tokenizer.encode(e.path("text").asText()));
      assertTrue(ex.getMessage().contains(e.path("message").asText()) || ex.getMessage().contains("position"),
          ex.getMessage() + " vs reference " + e.path("message").asText());
    }
  }

  @Test
  void malformedUtf8IsInvalidInputWithItsOffset() {
    byte[] bad = {'a', 'b', (byte) 0xc3, 'c'};
    InvalidInputException e = assertThrows(InvalidInputException.class, () -> tokenizer.encode(bad));
    assertTrue(e.getMessage().contains("2"), e.getMessage());
    byte[] loneSurrogate = {(byte) 0xed, (byte) 0xa0, (byte) 0x80};
    assertThrows(InvalidInputException.class, () -> tokenizer.encode(loneSurrogate));
  }

  /** Random escaped strings from many planes round-trip, on several threads sharing one tokenizer. */
  @Test
  void escapedRandomTextRoundTripsOnManyThreads() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Integer>> jobs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        long seed = 1000 + t;
        jobs.add(pool.submit(() -> {
          Random r = new Random(seed);
          int n = 0;
          for (int i = 0; i < 5000; i++) {
            StringBuilder sb = new StringBuilder();
            int len = r.nextInt(40);
            for (int k = 0; k < len; k++) {
              int kind = r.nextInt(6);
              int cp = switch (kind) {
                case 0 -> 0x20 + r.nextInt(0x5f);            // ASCII incl. '<'
                case 1 -> 0x4e00 + r.nextInt(0x5000);        // CJK
                case 2 -> 0x1f300 + r.nextInt(0x300);        // emoji (astral)
                case 3 -> r.nextInt(0x20);                   // controls
                case 4 -> "<>/n_ans".codePointAt(r.nextInt(8));
                default -> {
                  int c;
                  do { c = r.nextInt(0x110000); } while (c >= 0xd800 && c < 0xe000);
                  yield c;
                }
              };
              sb.appendCodePoint(cp);
            }
            String escaped = Tokenizer.escape(sb.toString());
            Encoding enc = tokenizer.encode(escaped);
            String back = tokenizer.decode(enc);
            if (!back.equals(escaped)) {
              throw new AssertionError("round trip of " + escaped.codePoints().mapToObj(Integer::toHexString).toList()
                  + " gave " + back.codePoints().mapToObj(Integer::toHexString).toList());
            }
            n++;
          }
          return n;
        }));
      }
      int total = 0;
      for (Future<Integer> f : jobs) total += f.get();
      assertEquals(20000, total);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void badVocabulariesAreTyped(@TempDir Path dir) throws Exception {
    assertThrows(ResourceNotFoundException.class, () -> Tokenizer.load(dir.resolve("missing.txt")));
    Path empty = dir.resolve("empty.txt");
    Files.writeString(empty, "");
    assertThrows(FormatException.class, () -> Tokenizer.load(empty));
    var folder = assertThrows(ai.viscpm.InvalidInputException.class, () -> Tokenizer.load(dir));
    assertTrue(folder.getMessage().contains("is a directory"), folder.getMessage());
  }

  /** The reference skips negative ids silently; the API refuses them, naming the position. */
  @Test
  void negativeIdsAreRefusedNotDropped() throws Exception {
    var e = assertThrows(ai.viscpm.InvalidInputException.class,
        () -> tokenizer.decode(new int[] {5, -3, 7}, java.util.List.of()));
    assertTrue(e.getMessage().contains("-3 at position 1"), e.getMessage());
  }

  @Test
  void closedTokenizerRefusesUse() throws Exception {
    Tokenizer t = Tokenizer.load(Fixtures.resolve("vocab/bee.txt"));
    t.close();
    assertThrows(IllegalStateException.class, () -> t.encode("hello"));
  }
}
