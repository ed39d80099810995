// Stable Diffusion UNet, VAE decoder and VisCPM-Paint trans block: golden cases, key
// layouts, configuration parsing and rejection of bad input.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>

#include "common/error.h"
#include "kernels/ops.h"
#include "diffusion/timestep_embedding.h"
#include "diffusion/trans_block.h"
#include "diffusion/unet.h"
#include "diffusion/unet_ldm_keys.h"
#include "diffusion/vae.h"
#include "diffusion/vae_keys.h"
#include "io/tensor_source.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace viscpm;
using namespace viscpm::diffusion;

namespace {

nlohmann::json manifest() {
  std::ifstream in(viscpm::testing::fixtures_dir() / "manifest.json");
  return nlohmann::json::parse(in);
}
fs::path paint_path(const char* key) {
  return viscpm::testing::fixtures_dir() / manifest().at("models").at("paint").at(key).get<std::string>();
}
fs::path paint_checkpoint() { return paint_path("checkpoint"); }
fs::path tiny_unet_config() { return paint_path("unet_config"); }
fs::path tiny_vae_dir() { return paint_path("vae_dir"); }
nlohmann::json tiny_unet_json() {
  std::ifstream in(tiny_unet_config());
  return nlohmann::json::parse(in);
}

// A scratch folder removed at the end of the test.
struct TempDir : viscpm::testing::ScratchDir {
  TempDir() : ScratchDir("viscpm_diffusion_test") {}
};

UnetModel tiny_unet(const UnetLoadOptions& options = {}) {
  return load_unet(tiny_unet_config(), paint_checkpoint(), options);
}

struct UnetInputs {
  at::Tensor sample, timestep, context;
};
UnetInputs unet_inputs(const UnetConfig& config, int64_t side = 8) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  UnetInputs in;
  in.sample = at::randn({2, config.in_channels, side, side}, gen, at::kFloat);
  in.timestep = at::scalar_tensor(981, at::kLong);
  in.context = at::randn({2, 5, config.cross_attention_dim}, gen, at::kFloat);
  return in;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

std::vector<std::pair<std::string, at::Tensor>> unet_weights_without_prefix() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, tensor] : io::read_all(paint_checkpoint()))
    if (name.rfind("unet.", 0) == 0) out.emplace_back(name.substr(5), tensor);
  return out;
}

}  // namespace

// ---- golden cases -------------------------------------------------------------------

TEST(DiffusionParity, TransBlock) { viscpm::testing::expect_kind_passes("trans_block"); }
TEST(DiffusionParity, UnetForward) { viscpm::testing::expect_kind_passes("unet_forward"); }
TEST(DiffusionParity, VaeDecode) { viscpm::testing::expect_kind_passes("vae_decode"); }

// ---- configuration ------------------------------------------------------------------

TEST(DiffusionConfig, Sd21BaseFilesMatchTheSpec) {
  const fs::path root = fs::path(VISCPM_SOURCE_DIR) / "models" / "sd21-base";
  const UnetConfig unet = UnetConfig::from_file(root / "unet" / "config.json");
  const UnetConfig ref = UnetConfig::sd21_base();
  EXPECT_EQ(unet.block_out_channels, ref.block_out_channels);
  EXPECT_EQ(unet.attention_heads, (std::vector<int64_t>{5, 10, 20, 20}));
  EXPECT_EQ(unet.cross_attention_dim, 1024);
  EXPECT_TRUE(unet.use_linear_projection);
  EXPECT_FALSE(unet.upcast_attention);
  EXPECT_EQ(unet.down_block_types, ref.down_block_types);
  EXPECT_EQ(unet.up_block_types, ref.up_block_types);
  EXPECT_EQ(unet.norm_num_groups, 32);
  EXPECT_DOUBLE_EQ(unet.norm_eps, 1e-5);
  EXPECT_EQ(unet.downsampling_factor(), 8);
  EXPECT_EQ(unet.time_embed_dim(), 1280);
  EXPECT_EQ(unet.up_heads(0), 20);
  EXPECT_EQ(unet.up_heads(3), 5);

  const VaeConfig vae = VaeConfig::from_file(root / "vae" / "config.json");
  EXPECT_EQ(vae.block_out_channels, VaeConfig::sd21_base().block_out_channels);
  EXPECT_DOUBLE_EQ(vae.scaling_factor, 0.18215);  // not in the file: diffusers default
  EXPECT_EQ(vae.upsampling_factor(), 8);
  EXPECT_EQ(vae.layers_per_block, 2);
  EXPECT_TRUE(fs::exists(root / "scheduler" / "scheduler_config.json"));
}

TEST(DiffusionConfig, Sd21BaseUnetHasTheSpecParameterCount) {
  // Built on the meta device: shapes only, no memory.
  UnetOptions options;
  options.device = at::Device(at::kMeta);
  UnetModel unet(UnetConfig::sd21_base(), options);
  int64_t params = 0;
  for (const auto& p : unet->parameters()) params += p.numel();
  EXPECT_EQ(unet->parameters().size(), 686u);
  EXPECT_EQ(params, 865910724);

  VaeOptions vae_options;
  vae_options.device = at::Device(at::kMeta);
  VaeDecoder vae(VaeConfig::sd21_base(), vae_options);
  int64_t vae_params = 0;
  for (const auto& p : vae->parameters()) vae_params += p.numel();
  EXPECT_EQ(vae->parameters().size(), 140u);
  EXPECT_EQ(vae_params, 49490199);
}

TEST(DiffusionConfig, RejectsBadOrUnsupportedConfigs) {
  auto with = [](const char* key, nlohmann::json value) {
    auto j = tiny_unet_json();
    j[key] = std::move(value);
    return j;
  };
  EXPECT_NO_THROW(UnetConfig::from_json(tiny_unet_json()));
  // 16 channels do not split into 3 heads.
  EXPECT_THROW(UnetConfig::from_json(with("attention_head_dim", {3, 2, 4, 4})), FormatError);
  EXPECT_THROW(UnetConfig::from_json(with("attention_head_dim", {1, 2, 4})), FormatError);
  EXPECT_THROW(UnetConfig::from_json(with("norm_num_groups", 5)), FormatError);
  EXPECT_THROW(UnetConfig::from_json(with("in_channels", "four")), FormatError);
  EXPECT_THROW(UnetConfig::from_json(with("_class_name", "AutoencoderKL")), FormatError);
  EXPECT_THROW(UnetConfig::from_json(with("down_block_types", {"SimpleCrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                                               "CrossAttnDownBlock2D", "DownBlock2D"})),
               Unsupported);
  EXPECT_THROW(UnetConfig::from_json(with("class_embed_type", "timestep")), Unsupported);
  EXPECT_THROW(UnetConfig::from_json(with("dual_cross_attention", true)), Unsupported);
  EXPECT_THROW(UnetConfig::from_file("/nonexistent/unet/config.json"), NotFound);
  // num_attention_heads (newer diffusers) takes precedence over attention_head_dim.
  auto newer = with("num_attention_heads", {1, 2, 4, 4});
  newer["attention_head_dim"] = 8;
  EXPECT_EQ(UnetConfig::from_json(newer).attention_heads, (std::vector<int64_t>{1, 2, 4, 4}));

  nlohmann::json vae = {{"block_out_channels", {8, 16}}, {"norm_num_groups", 4}, {"up_block_types", {"X", "Y"}}};
  EXPECT_THROW(VaeConfig::from_json(vae), Unsupported);
  vae.erase("up_block_types");
  vae["norm_num_groups"] = 3;
  EXPECT_THROW(VaeConfig::from_json(vae), FormatError);
}

// ---- UNet ---------------------------------------------------------------------------

TEST(DiffusionUnet, TimestepSinusoidMatchesTheSpecTestVector) {
  at::Tensor emb = timestep_sinusoid(at::tensor({980}, at::kLong), 320, true, 0);
  ASSERT_EQ(emb.sizes(), (at::IntArrayRef{1, 320}));
  auto e = emb.accessor<float, 2>();
  const std::vector<std::pair<int, double>> expected = {
      {0, 0.98439258},    {1, 0.0194087978}, {2, 0.998003125},   {3, 0.100640155},
      {160, -0.175986603}, {161, 0.999811649}, {162, 0.0631645769}, {163, 0.994922876}, {319, 0.103620529}};
  for (const auto& [i, v] : expected) EXPECT_NEAR(e[0][i], v, 2e-6) << "index " << i;
}

TEST(DiffusionUnet, RejectsBadInputs) {
  UnetModel unet = tiny_unet();
  const UnetConfig& config = unet->config();
  UnetInputs in = unet_inputs(config);
  EXPECT_NO_THROW(unet->forward(in.sample, in.timestep, in.context));
  // Wrong latent channel count.
  EXPECT_THROW(unet->forward(at::zeros({2, 3, 8, 8}), in.timestep, in.context), InvalidArgument);
  EXPECT_THROW(unet->forward(at::zeros({2, 4, 8}), in.timestep, in.context), InvalidArgument);
  // Sides not divisible by the UNet's downsampling factor (8 here).
  EXPECT_THROW(unet->forward(at::zeros({2, 4, 12, 8}), in.timestep, in.context), InvalidArgument);
  EXPECT_THROW(unet->forward(at::zeros({2, 4, 8, 9}), in.timestep, in.context), InvalidArgument);
  // encoder_hidden_states width != cross_attention_dim, or batch mismatch.
  EXPECT_THROW(unet->forward(in.sample, in.timestep, at::zeros({2, 5, config.cross_attention_dim + 1})),
               InvalidArgument);
  EXPECT_THROW(unet->forward(in.sample, in.timestep, at::zeros({1, 5, config.cross_attention_dim})), InvalidArgument);
  EXPECT_THROW(unet->forward(in.sample, at::tensor({1, 2, 3}), in.context), InvalidArgument);
  EXPECT_THROW(unet->forward(in.sample.to(at::kLong), in.timestep, in.context), InvalidArgument);
}

TEST(DiffusionUnet, TimestepFormsAgree) {
  UnetModel unet = tiny_unet();
  UnetInputs in = unet_inputs(unet->config());
  at::Tensor scalar = unet->forward(in.sample, at::scalar_tensor(500, at::kLong), in.context);
  at::Tensor per_row = unet->forward(in.sample, at::tensor({500, 500}, at::kLong), in.context);
  at::Tensor as_double = unet->forward(in.sample, at::scalar_tensor(500.0, at::kDouble), in.context);
  EXPECT_TRUE(at::equal(scalar, per_row));
  EXPECT_TRUE(at::equal(scalar, as_double));
  // Larger latents of a valid size run too (the model is not tied to the fixture's size).
  UnetInputs big = unet_inputs(unet->config(), 16);
  EXPECT_EQ(unet->forward(big.sample, big.timestep, big.context).sizes(), (at::IntArrayRef{2, 4, 16, 16}));
}

TEST(DiffusionUnet, ConfigWeightsMismatchIsAFormatError) {
  auto j = tiny_unet_json();
  j["cross_attention_dim"] = 48;  // attn2.to_k/to_v in the file are [C, 32]
  auto source = io::TensorSource::open(paint_checkpoint());
  EXPECT_THROW(load_unet(UnetConfig::from_json(j), *source), FormatError);
  j = tiny_unet_json();
  j["layers_per_block"] = 1;  // the file has resnets.1 / attentions.1 the model lacks
  EXPECT_THROW(load_unet(UnetConfig::from_json(j), *source), FormatError);
  // The trans block and CPM-Bee weights are not UNet weights.
  UnetLoadOptions options;
  options.prefix = "";
  EXPECT_THROW(load_unet(UnetConfig::from_json(tiny_unet_json()), *source, options), FormatError);
}

TEST(DiffusionUnet, LoadsOriginalLdmKeyLayout) {
  const UnetConfig config = UnetConfig::from_file(tiny_unet_config());
  // Spot checks of the mapping (unet.md §6.4 with layers_per_block = 2).
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "input_blocks.4.0.in_layers.2.weight"),
            "down_blocks.1.resnets.0.conv1.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "input_blocks.9.0.op.bias"), "down_blocks.2.downsamplers.0.conv.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "output_blocks.2.1.conv.weight"), "up_blocks.0.upsamplers.0.conv.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "output_blocks.5.2.conv.weight"), "up_blocks.1.upsamplers.0.conv.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "output_blocks.10.1.proj_in.weight"),
            "up_blocks.3.attentions.1.proj_in.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "output_blocks.11.0.skip_connection.bias"),
            "up_blocks.3.resnets.2.conv_shortcut.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "middle_block.2.emb_layers.1.weight"),
            "mid_block.resnets.1.time_emb_proj.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "time_embed.2.bias"), "time_embedding.linear_2.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers(config, "out.2.weight"), "conv_out.weight");
  EXPECT_FALSE(ldm_unet_key_to_diffusers(config, "input_blocks.12.0.in_layers.0.weight").has_value());

  // Write the fixture UNet in ldm naming (with unrelated first_stage_model.* keys) and load it back.
  TempDir dir;
  std::vector<std::pair<std::string, at::Tensor>> ldm;
  for (auto& [name, tensor] : unet_weights_without_prefix()) {
    auto mapped = diffusers_unet_key_to_ldm(config, name);
    ASSERT_TRUE(mapped) << name;
    EXPECT_EQ(ldm_unet_key_to_diffusers(config, *mapped), name);
    ldm.emplace_back(std::string(kLdmUnetPrefix) + *mapped, tensor);
  }
  ldm.emplace_back("first_stage_model.post_quant_conv.bias", at::zeros({4}));
  const fs::path file = dir.path / "sd-ldm.ckpt";
  io::save_torch_zip(file, ldm);

  UnetModel reference = tiny_unet();
  UnetModel from_ldm = load_unet(tiny_unet_config(), file);
  UnetInputs in = unet_inputs(config);
  EXPECT_TRUE(at::equal(reference->forward(in.sample, in.timestep, in.context),
                        from_ldm->forward(in.sample, in.timestep, in.context)));

  // A key the layout does not know is reported, not dropped.
  ldm.emplace_back(std::string(kLdmUnetPrefix) + "input_blocks.1.0.bogus.weight", at::zeros({1}));
  io::save_torch_zip(file, ldm);
  EXPECT_THROW(load_unet(tiny_unet_config(), file), FormatError);
}

TEST(DiffusionUnet, AttentionKernelsAndSlicingAgree) {
  UnetModel reference = tiny_unet();
  UnetInputs in = unet_inputs(reference->config());
  at::Tensor expected = reference->forward(in.sample, in.timestep, in.context);

  UnetLoadOptions sliced;
  sliced.model.attention.kernel = AttentionKernel::kReference;
  sliced.model.attention.max_score_bytes = 1;  // one head at a time
  EXPECT_TRUE(at::allclose(tiny_unet(sliced)->forward(in.sample, in.timestep, in.context), expected, 0, 1e-6));

  UnetLoadOptions fused;
  fused.model.attention.kernel = AttentionKernel::kFused;
  EXPECT_LT(max_abs_diff(tiny_unet(fused)->forward(in.sample, in.timestep, in.context), expected), 1e-4);
}

TEST(DiffusionUnet, Bfloat16WeightsStayCloseToFloat32) {
  UnetModel fp32 = tiny_unet();
  UnetLoadOptions options;
  options.model.dtype = at::kBFloat16;
  UnetModel bf16 = tiny_unet(options);
  UnetInputs in = unet_inputs(fp32->config());
  at::Tensor a = fp32->forward(in.sample, in.timestep, in.context);
  at::Tensor b = bf16->forward(in.sample, in.timestep, in.context);
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  // bf16 keeps ~3 significant digits; a loose bound relative to the output scale.
  EXPECT_LT(max_abs_diff(a, b), 0.05 * a.abs().max().item<double>() + 0.05);
}

// ---- VAE ----------------------------------------------------------------------------

namespace {

// diffusers 0.15 name -> ldm name (test-side inverse of normalize_vae_key, vae.md §5).
std::string to_ldm_vae_key(const std::string& key, int64_t levels) {
  std::string k = key;
  auto replace = [&](const std::string& from, const std::string& to) {
    auto pos = k.find(from);
    if (pos != std::string::npos) k.replace(pos, from.size(), to);
  };
  for (int64_t i = 0; i < levels; ++i) {
    const std::string ldm_level = std::to_string(levels - 1 - i);
    replace("decoder.up_blocks." + std::to_string(i) + ".resnets.", "decoder.up." + ldm_level + ".block.");
    replace("decoder.up_blocks." + std::to_string(i) + ".upsamplers.0.", "decoder.up." + ldm_level + ".upsample.");
  }
  replace("mid_block.resnets.0", "mid.block_1");
  replace("mid_block.resnets.1", "mid.block_2");
  replace("mid_block.attentions.0.group_norm", "mid.attn_1.norm");
  replace("mid_block.attentions.0.query", "mid.attn_1.q");
  replace("mid_block.attentions.0.key", "mid.attn_1.k");
  replace("mid_block.attentions.0.value", "mid.attn_1.v");
  replace("mid_block.attentions.0.proj_attn", "mid.attn_1.proj_out");
  replace("conv_norm_out", "norm_out");
  replace("conv_shortcut", "nin_shortcut");
  return k;
}

bool is_attention_projection_weight(const std::string& key) {
  for (const char* m : {".query.weight", ".key.weight", ".value.weight", ".proj_attn.weight"})
    if (key.find("mid_block.attentions.0") != std::string::npos && key.size() > strlen(m) &&
        key.compare(key.size() - strlen(m), strlen(m), m) == 0)
      return true;
  return false;
}

at::Tensor vae_latents() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  return at::randn({1, 4, 8, 8}, gen, at::kFloat);
}

}  // namespace

TEST(DiffusionVae, LoadsNewerDiffusersAndLdmKeyNames) {
  const VaeConfig config = VaeConfig::from_file(tiny_vae_dir() / "config.json");
  const auto original = io::read_all(tiny_vae_dir() / "diffusion_pytorch_model.safetensors");
  at::Tensor expected = load_vae_decoder(tiny_vae_dir())->decode_latents(vae_latents());

  // diffusers >= 0.17 names, projections stored as 1x1 convs.
  std::vector<std::pair<std::string, at::Tensor>> newer;
  for (const auto& [name, tensor] : original) {
    std::string k = name;
    for (auto [from, to] : {std::pair{".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."},
                            {".proj_attn.", ".to_out.0."}})
      if (auto pos = k.find(from); pos != std::string::npos && k.find("mid_block") != std::string::npos)
        k.replace(pos, strlen(from), to);
    at::Tensor t = is_attention_projection_weight(name) ? tensor.reshape({tensor.size(0), tensor.size(1), 1, 1}) : tensor;
    newer.emplace_back(k, t);
  }
  TempDir dir;
  io::save_safetensors(dir.path / "newer.safetensors", newer, {{"format", "pt"}});
  auto newer_source = io::TensorSource::open(dir.path / "newer.safetensors");
  EXPECT_TRUE(at::equal(load_vae_decoder(config, *newer_source)->decode_latents(vae_latents()), expected));

  // Original ldm checkpoint layout inside a full SD checkpoint.
  std::vector<std::pair<std::string, at::Tensor>> ldm;
  for (const auto& [name, tensor] : original) {
    at::Tensor t = is_attention_projection_weight(name) ? tensor.reshape({tensor.size(0), tensor.size(1), 1, 1}) : tensor;
    ldm.emplace_back(std::string(kLdmVaePrefix) + to_ldm_vae_key(name, config.num_levels()), t);
  }
  ldm.emplace_back("model.diffusion_model.out.2.bias", at::zeros({4}));
  io::save_torch_zip(dir.path / "ldm.ckpt", ldm);
  auto ldm_source = io::TensorSource::open(dir.path / "ldm.ckpt");
  EXPECT_TRUE(at::equal(load_vae_decoder(config, *ldm_source)->decode_latents(vae_latents()), expected));

  // Both generations of one key in one file is ambiguous.
  auto both = original;
  both.emplace_back("decoder.mid_block.attentions.0.to_q.bias", original.front().second);
  io::save_safetensors(dir.path / "both.safetensors", both);
  auto both_source = io::TensorSource::open(dir.path / "both.safetensors");
  EXPECT_THROW(load_vae_decoder(config, *both_source), FormatError);
}

TEST(DiffusionVae, RejectsBadInputsAndMismatchedWeights) {
  VaeDecoder vae = load_vae_decoder(tiny_vae_dir());
  EXPECT_THROW(vae->decode(at::zeros({1, 3, 8, 8})), InvalidArgument);
  EXPECT_THROW(vae->decode(at::zeros({4, 8, 8})), InvalidArgument);
  EXPECT_THROW(vae->decode(at::zeros({1, 4, 0, 8})), InvalidArgument);
  // Any latent size decodes (the decoder only upsamples).
  EXPECT_EQ(vae->decode(at::zeros({2, 4, 5, 3})).sizes(), (at::IntArrayRef{2, 3, 40, 24}));

  VaeConfig wrong = VaeConfig::from_file(tiny_vae_dir() / "config.json");
  wrong.block_out_channels.back() = 32;
  auto source = io::TensorSource::open(tiny_vae_dir() / "diffusion_pytorch_model.safetensors");
  EXPECT_THROW(load_vae_decoder(wrong, *source), FormatError);
  EXPECT_THROW(load_vae_decoder(fs::path("/nonexistent/vae")), NotFound);
}

TEST(DiffusionVae, ImageConversionRoundsHalfToEvenAndClamps) {
  at::Tensor sample = at::tensor({-3.0f, 0.0f, 3.0f, -1.0f}).reshape({1, 1, 2, 2}).expand({1, 3, 2, 2});
  at::Tensor image = VaeDecoderImpl::to_image_float(sample);
  EXPECT_EQ(image.sizes(), (at::IntArrayRef{1, 2, 2, 3}));  // NHWC
  at::Tensor u8 = VaeDecoderImpl::to_uint8(image);
  EXPECT_EQ(u8.scalar_type(), at::kByte);
  // 0 -> 0.5 -> 127.5 -> 128 (half to even); clamped ends.
  EXPECT_EQ(u8[0][0][0][0].item<int>(), 0);
  EXPECT_EQ(u8[0][0][1][0].item<int>(), 128);
  EXPECT_EQ(u8[0][1][0][0].item<int>(), 255);
  EXPECT_EQ(u8[0][1][1][0].item<int>(), 0);
}

// ---- trans block --------------------------------------------------------------------

TEST(DiffusionTransBlock, ShapesAndBadInput) {
  auto source = io::TensorSource::open(paint_checkpoint());
  TransBlock block = load_trans_block(*source);
  const auto& w = source->at("trans_block.w_out_res.weight");
  EXPECT_EQ(block->dim_model(), w.shape[1]);
  EXPECT_EQ(block->dim_out(), w.shape[0]);
  // fp16 input (CPM-Bee's dtype) is cast to fp32 first.
  at::Tensor out = block->forward(at::ones({1, 3, block->dim_model()}, at::kHalf));
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{1, 3, block->dim_out()}));
  EXPECT_THROW(block->forward(at::ones({1, 3, block->dim_model() + 1})), InvalidArgument);
  TransBlockOptions options;
  options.prefix = "no_such_block.";
  EXPECT_THROW(load_trans_block(*source, options), FormatError);
}
