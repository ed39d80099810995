package ai.viscpm.elasticsearch;

import com.carrotsearch.randomizedtesting.ThreadFilter;

/** JavaCPP's deallocator thread starts with the first native pointer and lives as long as the JVM, as it should. */
public class JavaCppThreads implements ThreadFilter {
  @Override
  public boolean reject(Thread t) {
    return t.getName().startsWith("JavaCPP Deallocator");
  }
}
