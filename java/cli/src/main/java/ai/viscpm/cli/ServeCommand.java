package ai.viscpm.cli;

import ai.viscpm.DType;
import ai.viscpm.ModelOptions;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Serve the models over an OpenAI-compatible HTTP API: GET /v1/models, POST /v1/chat/completions "
        + "(stream: true for server-sent events), POST /v1/images/generations, GET /health, GET /metrics. "
        + "SIGTERM finishes running requests and stops.")
final class ServeCommand implements Callable<Integer> {
  @Option(names = "--chat-model", description = "VisCPM-Chat model directory (models/README.md)")
  Path chatModel;

  @Option(names = "--paint-model", description = "VisCPM-Paint model directory (models/README.md)")
  Path paintModel;

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "interface to bind (default: ${DEFAULT-VALUE})")
  String host;

  @Option(names = "--port", defaultValue = "8080", description = "TCP port, 0 = any free one (default: ${DEFAULT-VALUE})")
  int port;

  @Option(names = "--api-key-file", description = "file holding the API key; then every request needs Authorization: Bearer KEY")
  Path apiKeyFile;

  @Option(names = "--threads", defaultValue = "1", description = "generations running at once (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--max-queue", defaultValue = "16", description = "requests waiting for a slot before 429 (default: ${DEFAULT-VALUE})")
  int maxQueue;

  @Option(names = "--max-body-bytes", defaultValue = "20971520", description = "largest request body (default: ${DEFAULT-VALUE})")
  long maxBodyBytes;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N or auto (CUDA when usable, else the CPU; default: ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--dtype", defaultValue = "auto", description = "auto, float32, bfloat16, float16 (default: ${DEFAULT-VALUE})")
  String dtype;

  @Override
  public Integer call() throws Exception {
    if (chatModel == null && paintModel == null) throw new IllegalArgumentException("give --chat-model, --paint-model or both");
    Optional<String> key = Optional.empty();
    if (apiKeyFile != null) {
      String k = Files.readString(apiKeyFile, StandardCharsets.UTF_8).trim();
      if (k.isEmpty()) throw new IllegalArgumentException(apiKeyFile + " is empty");
      key = Optional.of(k);
    }
    ModelOptions.Builder mb = ModelOptions.builder().dtype(DType.parse(dtype));
    ModelFlags.device(mb, device);
    ModelOptions options = mb.build();
    ServerOptions serverOptions = new ServerOptions(host, port, key, threads, maxQueue, maxBodyBytes);
    try (ChatModel chat = chatModel == null ? null : ChatModel.load(chatModel, options);
        PaintModel paint = paintModel == null ? null : PaintModel.load(paintModel, null, null, options)) {
      VisCpmServer server = VisCpmServer.start(chat, paint, serverOptions, System.err);
      CountDownLatch stopped = new CountDownLatch(1);
      Thread hook = new Thread(() -> {
        System.err.println("viscpm serve: stopping (finishing running requests)");
        server.close();
        stopped.countDown();
      });
      Runtime.getRuntime().addShutdownHook(hook);
      System.err.printf("viscpm serve: listening on http://%s:%d/v1 (%s%s)%n", host, server.port(),
          chat != null ? VisCpmServer.CHAT_MODEL_ID : "", paint != null ? (chat != null ? ", " : "") + VisCpmServer.PAINT_MODEL_ID : "");
      stopped.await();
    }
    return 0;
  }
}
