package ai.viscpm.spark;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/** The input row with the output cells after its own. */
final class Rows {
  private Rows() {}

  static Row append(Row row, Object... cells) {
    int n = row.length();
    Object[] values = new Object[n + cells.length];
    for (int i = 0; i < n; i++) values[i] = row.get(i);
    System.arraycopy(cells, 0, values, n, cells.length);
    return RowFactory.create(values);
  }
}
