// Peak memory of VisCPM-Paint with and without --low-memory (PaintModelOptions::low_memory),
// one process per mode so that each peak RSS is its own (benchmarks/paint_low_memory.sh).
//
//   paint_low_memory write DIR CPM_BEE_JSON     a random paint model in the released layout:
//       CPM-Bee of the given shape (stored fp16, as released), the SD 2.1-base UNet and VAE
//       (models/sd21-base, stored fp32), the demo vocabulary
//   paint_low_memory run DIR normal|low [SIDE]  load, paint one SIDE x SIDE image (2 DDPM
//       steps, fp32 on the CPU), print the phases' peak RSS
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "bench_common.h"
#include "pipelines/paint/paint_model.h"
#include "testkit/demo/demo_paint.h"

namespace {
nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::ordered_json::parse(in);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace viscpm;
  const std::string verb = argc > 2 ? argv[1] : "";
  if (verb == "write" && argc == 4) {
    testkit::DemoPaintOptions options;
    options.cpm_bee_config = cpmbee::CpmBeeConfig::from_json(read_json(argv[3]), argv[3]);
    options.unet_config = read_json("models/sd21-base/unet/config.json");
    options.vae_config = read_json("models/sd21-base/vae/config.json");
    auto paths = testkit::write_demo_paint_model(argv[2], options);
    std::printf("wrote %s (peak RSS while writing %.2f GiB)\n", paths.checkpoint.c_str(), bench::peak_rss_gib());
    return 0;
  }
  if (verb == "run" && argc >= 4) {
    const std::string mode = argv[3];
    const int64_t side = argc > 4 ? std::stoll(argv[4]) : 256;
    paint::PaintModelOptions options;
    options.llm_dtype = at::kFloat;
    options.low_memory = mode == "low";
    std::shared_ptr<paint::PaintModel> model;
    const double load_s = bench::seconds([&] { model = paint::PaintModel::load(argv[2], options); });
    std::printf("%-6s load %.1f s, peak RSS after load %.2f GiB\n", mode.c_str(), load_s, bench::peak_rss_gib());
    paint::PaintRequest request;
    request.prompt = "a lighthouse on a cliff at sunset";
    request.width = request.height = side;
    request.num_inference_steps = 2;
    request.seed = 1;
    const double paint_s = bench::seconds([&] { model->generate(request); });
    std::printf("%-6s paint %lldx%lld (2 steps) %.1f s, peak RSS of the process %.2f GiB\n", mode.c_str(),
                (long long)side, (long long)side, paint_s, bench::peak_rss_gib());
    return 0;
  }
  std::fprintf(stderr, "usage: %s write DIR CPM_BEE_JSON | run DIR normal|low [SIDE]\n", argv[0]);
  return 2;
}
