package ai.viscpm.text;

import java.util.Arrays;
import java.util.List;

/**
 * Token ids of a text and its ext table: strings the vocabulary lacks (runs of unknown
 * characters, special tokens such as {@code <ans_1>}) get ids {@code vocabSize + index}.
 */
public record Encoding(int[] ids, List<String> extTable) {
  public Encoding {
    ids = ids.clone();
    extTable = List.copyOf(extTable);
  }

  @Override
  public int[] ids() {
    return ids.clone();
  }

  public int length() {
    return ids.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Encoding e && Arrays.equals(ids, e.ids) && extTable.equals(e.extTable);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(ids) * 31 + extTable.hashCode();
  }

  @Override
  public String toString() {
    return "Encoding" + Arrays.toString(ids) + (extTable.isEmpty() ? "" : " ext " + extTable);
  }
}
