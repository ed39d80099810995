package ai.viscpm.internal;

import ai.viscpm.Engine;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.spi.EngineProvider;
import java.util.Iterator;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/** The provider of an {@link Engine}: the native one built in, others through {@link ServiceLoader}. */
public final class Engines {
  /** The Maven coordinates that bring the JVM engine. */
  public static final String JVM_ARTIFACT = "ai.viscpm:viscpm-engine-jvm";

  private Engines() {}

  public static EngineProvider provider(Engine engine) throws UnsupportedFeatureException {
    if (engine == null || engine == Engine.NATIVE) return NativeEngine.INSTANCE;
    for (ClassLoader loader : loaders()) {
      Iterator<EngineProvider> it = ServiceLoader.load(EngineProvider.class, loader).iterator();
      while (true) {
        try {
          if (!it.hasNext()) break;
          EngineProvider p = it.next();
          if (p.engine() == engine) return p;
        } catch (ServiceConfigurationError other) {
          // A provider another class loader's copy of the API sees (a plugin host): not ours.
        }
      }
    }
    throw new UnsupportedFeatureException("the " + engine + " engine is not on the class path: add the artifact "
        + JVM_ARTIFACT + " (the models written in Java on org.bytedeco.pytorch), or use engine NATIVE");
  }

  private static ClassLoader[] loaders() {
    ClassLoader own = Engines.class.getClassLoader();
    ClassLoader context = Thread.currentThread().getContextClassLoader();
    return context == null || context == own ? new ClassLoader[] {own} : new ClassLoader[] {own, context};
  }
}
