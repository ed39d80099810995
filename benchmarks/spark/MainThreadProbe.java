// Why SparkBench runs its plain loop on a worker thread: paints the same 8 small pictures on the
// JVM's main thread and on fresh threads, at LibTorch's default thread count, 1 and 2 threads.
// On the 2-vCPU machine of results/spark_cpu.txt the main thread at 2 threads ran ~10x slower
// than any other thread with libgomp's default (active) waiting, and as fast with
// OMP_WAIT_POLICY=PASSIVE. Not a test: numbers only.
//
//   java -cp "$(cat java/integrations/spark/target/bench-classpath.txt)" \
//        benchmarks/spark/MainThreadProbe.java ../shared/fixtures
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import java.nio.file.Path;

public class MainThreadProbe {
  static PaintModel model;

  static void paint(String where) throws Exception {
    long t = System.nanoTime();
    for (int i = 0; i < 8; i++) model.generate(PaintRequest.builder("a red hat " + i).size(64, 64).steps(4).seed(i).build());
    System.out.printf("%-12s threads=%d  %.1f pictures/s%n", where, VisCpm.threads(), 8 / ((System.nanoTime() - t) / 1e9));
  }

  static void onFreshThread() throws Exception {
    Thread t = new Thread(() -> {
      try {
        paint("fresh thread");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    t.start();
    t.join();
  }

  public static void main(String[] args) throws Exception {
    Path fixtures = Path.of(args.length > 0 ? args[0] : "../shared/fixtures");
    System.out.println("OMP_WAIT_POLICY=" + System.getenv().getOrDefault("OMP_WAIT_POLICY", "(unset)"));
    model = PaintModel.load(fixtures.resolve("models/paint"), null, fixtures.resolve("vocab/bee.txt"), ModelOptions.defaults());
    paint("main");
    onFreshThread();
    for (int threads : new int[] {1, 2}) {
      VisCpm.setThreads(threads);
      paint("main");
      onFreshThread();
    }
    model.close();
  }
}
