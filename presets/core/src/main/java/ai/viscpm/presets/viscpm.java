package ai.viscpm.presets;

import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.javacpp.tools.Info;
import org.bytedeco.javacpp.tools.InfoMap;
import org.bytedeco.javacpp.tools.InfoMapper;

/**
 * JavaCPP mapping of the runtime's C API (native/include/viscpm.h) and nothing else: the
 * generated classes live in {@code ai.viscpm.internal.jni} and are never part of the
 * public Java API. LibTorch itself is loaded from bytedeco's pytorch artifact before these
 * classes are used (see ai.viscpm.internal.NativeLibrary).
 */
@Properties(
    target = "ai.viscpm.internal.jni",
    global = "ai.viscpm.internal.jni.global.viscpm",
    value = @Platform(
        value = "linux-x86_64",
        include = "viscpm.h",
        link = "viscpm"))
public class viscpm implements InfoMapper {
  @Override
  public void map(InfoMap infoMap) {
    infoMap.put(new Info("VISCPM_API").cppTypes().annotations())
        .put(new Info("VISCPM_H").define(false))
        .put(new Info("viscpm_checkpoint").pointerTypes("viscpm_checkpoint"))
        .put(new Info("viscpm_tokenizer").pointerTypes("viscpm_tokenizer"))
        .put(new Info("viscpm_encoding").pointerTypes("viscpm_encoding"))
        .put(new Info("viscpm_string_list").pointerTypes("viscpm_string_list"))
        .put(new Info("viscpm_chat_model").pointerTypes("viscpm_chat_model"))
        .put(new Info("viscpm_chat_session").pointerTypes("viscpm_chat_session"))
        .put(new Info("viscpm_paint_model").pointerTypes("viscpm_paint_model"));
  }
}
