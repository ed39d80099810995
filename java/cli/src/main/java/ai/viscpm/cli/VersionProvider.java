package ai.viscpm.cli;

import ai.viscpm.VisCpm;
import picocli.CommandLine.IVersionProvider;

final class VersionProvider implements IVersionProvider {
  @Override
  public String[] getVersion() {
    return new String[] {"viscpm " + VisCpm.version() + " (LibTorch " + VisCpm.torchVersion() + ", CUDA "
        + (VisCpm.cudaAvailable() ? "available" : "not available") + ")"};
  }
}
