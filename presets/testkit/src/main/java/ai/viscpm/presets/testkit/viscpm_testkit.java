package ai.viscpm.presets.testkit;

import ai.viscpm.presets.viscpm;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.javacpp.tools.Info;
import org.bytedeco.javacpp.tools.InfoMap;
import org.bytedeco.javacpp.tools.InfoMapper;

/**
 * JavaCPP mapping of the test kit's C API (native/testkit/include/viscpm_testkit.h): golden
 * cases and demo-model writers, for the CLI and the tests. It inherits the runtime's mapping
 * (statuses) and links libviscpm_testkit.so; the public Java API never loads it.
 */
@Properties(
    inherit = viscpm.class,
    target = "ai.viscpm.testkit.internal.jni",
    global = "ai.viscpm.testkit.internal.jni.global.viscpm_testkit",
    value = @Platform(
        value = "linux-x86_64",
        include = "viscpm_testkit.h",
        link = "viscpm_testkit"))
public class viscpm_testkit implements InfoMapper {
  @Override
  public void map(InfoMap infoMap) {
    infoMap.put(new Info("VISCPM_TESTKIT_API").cppTypes().annotations())
        .put(new Info("VISCPM_TESTKIT_H").define(false))
        .put(new Info("viscpm_parity_suite").pointerTypes("viscpm_parity_suite"));
  }
}
