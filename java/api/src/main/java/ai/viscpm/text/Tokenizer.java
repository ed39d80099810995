package ai.viscpm.text;

import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_encoding;
import ai.viscpm.internal.jni.viscpm_string_list;
import ai.viscpm.internal.jni.viscpm_tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The CPM-Bee tokenizer over a vocabulary file ({@code bee.txt}): greedy longest match on
 * Unicode code points, {@code <name>} special tokens, {@code <<} for a literal {@code <},
 * runs of unknown characters merged into one ext-table entry, and decoding back to
 * (escaped) text. Immutable once loaded and safe to share between threads.
 */
public final class Tokenizer extends NativeObject {
  private final viscpm_tokenizer handle;
  private final int vocabSize;

  private Tokenizer(viscpm_tokenizer handle) {
    this.handle = handle;
    this.vocabSize = viscpm.viscpm_tokenizer_vocab_size(handle);
  }

  /**
   * Loads a vocabulary.
   *
   * @throws ai.viscpm.ResourceNotFoundException if the file does not exist
   * @throws ai.viscpm.FormatException if it is not a CPM-Bee vocabulary
   */
  public static Tokenizer load(Path vocabulary) throws VisCpmException {
    NativeLibrary.require();
    viscpm_tokenizer handle = new viscpm_tokenizer();
    try (BytePointer path = NativeLibrary.utf8(vocabulary.toString())) {
      NativeLibrary.check(viscpm.viscpm_tokenizer_load(path, handle));
    }
    return new Tokenizer(handle);
  }

  public int vocabSize() {
    return vocabSize;
  }

  /**
   * Ids of a text.
   *
   * @throws InvalidInputException for text the reference rejects (e.g. an unterminated
   *     {@code <}); the message gives the position
   */
  public Encoding encode(String text) throws VisCpmException {
    return encode(text.getBytes(StandardCharsets.UTF_8));
  }

  /** Ids of UTF-8 bytes; malformed UTF-8 is an {@link InvalidInputException} with its byte offset. */
  public Encoding encode(byte[] utf8) throws VisCpmException {
    try (Use use = use(); BytePointer text = new BytePointer(utf8.length + 1L)) {
      text.put(utf8, 0, utf8.length);
      viscpm_encoding enc = new viscpm_encoding();
      NativeLibrary.check(viscpm.viscpm_tokenizer_encode(handle, text, utf8.length, enc));
      try {
        int[] ids = new int[(int) viscpm.viscpm_encoding_count(enc)];
        try (IntPointer buf = new IntPointer(Math.max(1, ids.length))) {
          NativeLibrary.check(viscpm.viscpm_encoding_ids(enc, buf, ids.length));
          buf.get(ids);
        }
        List<String> ext = new ArrayList<>();
        long[] bytes = new long[1];
        for (long i = 0, n = viscpm.viscpm_encoding_ext_count(enc); i < n; i++) {
          BytePointer entry = viscpm.viscpm_encoding_ext_text(enc, i, bytes);
          ext.add(NativeLibrary.string(entry, bytes[0]));
        }
        return new Encoding(ids, ext);
      } finally {
        viscpm.viscpm_encoding_free(enc);
      }
    }
  }

  /** The pieces the text splits into (vocabulary words, unknown runs, special tokens). */
  public List<String> tokenize(String text) throws VisCpmException {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    try (Use use = use(); BytePointer p = new BytePointer(utf8.length + 1L);
        PointerPointer<viscpm_string_list> out = new PointerPointer<>(1)) {
      p.put(utf8, 0, utf8.length);
      NativeLibrary.check(viscpm.viscpm_tokenizer_tokenize(handle, p, utf8.length, out));
      viscpm_string_list list = out.get(viscpm_string_list.class, 0);
      try (LongPointer bytes = new LongPointer(1)) {
        long n = viscpm.viscpm_string_list_count(list);
        List<String> pieces = new ArrayList<>(Math.toIntExact(n));
        for (long i = 0; i < n; i++) {
          BytePointer piece = viscpm.viscpm_string_list_get(list, i, bytes);
          pieces.add(NativeLibrary.string(piece, bytes.get()));
        }
        return pieces;
      } finally {
        viscpm.viscpm_string_list_free(list);
      }
    }
  }

  /** Text of ids (a literal {@code <} comes back escaped as {@code <<}). */
  public String decode(int[] ids, List<String> extTable) throws VisCpmException {
    try (Use use = use(); IntPointer idp = new IntPointer(Math.max(1, ids.length));
        PointerPointer<BytePointer> ext = new PointerPointer<>(Math.max(1, extTable.size()));
        LongPointer extBytes = new LongPointer(Math.max(1, extTable.size()));
        LongPointer length = new LongPointer(1);
        PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
      idp.put(ids);
      List<BytePointer> owned = new ArrayList<>();
      try {
        for (int i = 0; i < extTable.size(); i++) {
          byte[] utf8 = extTable.get(i).getBytes(StandardCharsets.UTF_8);
          BytePointer s = new BytePointer(utf8.length + 1L);
          s.put(utf8, 0, utf8.length);
          owned.add(s);
          ext.put(i, s);
          extBytes.put(i, utf8.length);
        }
        NativeLibrary.check(
            viscpm.viscpm_tokenizer_decode(handle, idp, ids.length, ext, extBytes, extTable.size(), out, length));
        BytePointer text = out.get(BytePointer.class, 0);
        try {
          return NativeLibrary.string(text, length.get(0));
        } finally {
          viscpm.viscpm_string_free(text);
        }
      } finally {
        owned.forEach(BytePointer::close);
      }
    }
  }

  public String decode(Encoding encoding) throws VisCpmException {
    return decode(encoding.ids(), encoding.extTable());
  }

  /** Escapes text so that every {@code <} is literal ({@code <} becomes {@code <<}). */
  public static String escape(String text) {
    return text.replace("<", "<<");
  }

  @Override
  protected void release() {
    viscpm.viscpm_tokenizer_free(handle);
    handle.setNull();
  }
}
