package ai.viscpm.spi;

import ai.viscpm.Engine;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpmException;
import java.nio.file.Path;

/** An engine: loads chat and paint backends. Found by {@link java.util.ServiceLoader}. */
public interface EngineProvider {
  Engine engine();

  /**
   * Loads a VisCPM-Chat model; null paths are looked for in {@code files.modelDir()} (as the
   * native loader does, models/README.md).
   */
  ChatBackend loadChat(ChatFiles files, ModelOptions options) throws VisCpmException;

  /** Loads a VisCPM-Paint model; {@code checkpoint} and {@code vocabulary} may be null (looked for in the directory). */
  PaintBackend loadPaint(Path modelDir, Path checkpoint, Path vocabulary, ModelOptions options) throws VisCpmException;

  /** The files of a chat model; each may be null (looked for in {@code modelDir}, which may be null too). */
  record ChatFiles(Path modelDir, Path checkpoint, Path cpmBeeConfig, Path beit3Config, Path vocabulary) {
    /** Only the directory was given. */
    public boolean directoryOnly() {
      return checkpoint == null && cpmBeeConfig == null && beit3Config == null && vocabulary == null;
    }
  }
}
