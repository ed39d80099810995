package ai.viscpm.internal;

import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_model_params;
import org.bytedeco.javacpp.BytePointer;

/** Java options -> native parameter structs. The returned objects own their strings. */
public final class NativeParams {
  private NativeParams() {}

  /** Model parameters plus the device string they point to; close both together. */
  public static final class Model implements AutoCloseable {
    public final viscpm_model_params params;
    private final BytePointer device;

    Model(ModelOptions options) throws VisCpmException {
      NativeLibrary.load();
      int dtype = NativeEnums.dtype(options.dtype());
      params = viscpm.viscpm_model_default_params();
      device = NativeLibrary.utf8(options.deviceName());
      params.device(device);
      params.dtype(dtype);
      params.verify_checksums(options.verifyChecksums() ? 1 : 0);
      params.low_memory(options.lowMemory() ? 1 : 0);
    }

    @Override
    public void close() {
      params.close();
      device.close();
    }
  }

  public static Model of(ModelOptions options) throws VisCpmException {
    return new Model(options);
  }
}
