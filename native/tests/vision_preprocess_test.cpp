// Image preprocessing: Pillow-exact bicubic resize, normalisation, zero-copy views.
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/from_blob.h>

#include <cstring>
#include <vector>

#include "common/error.h"
#include "test_support.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace viscpm::vision {
namespace {

// A deterministic RGB test card with sharp edges (xor term) and smooth ramps.
std::vector<uint8_t> test_card(int width, int height) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (uint32_t y = 0; y < static_cast<uint32_t>(height); ++y)
    for (uint32_t x = 0; x < static_cast<uint32_t>(width); ++x)
      for (uint32_t c = 0; c < 3; ++c)
        rgb[(y * width + x) * 3 + c] = static_cast<uint8_t>(((x * 37 + y * 91 + c * 53) ^ (x * y)) & 255);
  return rgb;
}

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

TEST(VisionPreprocess, GoldenCasesPass) { viscpm::testing::expect_kind_passes("image_preprocess"); }

// Hashes of Pillow 9.4 `Image.fromarray(card).resize((ow, oh), Image.BICUBIC)` bytes:
// down- and up-scaling, one-pass (only width or only height changes) and two-pass cases.
TEST(VisionPreprocess, ResizeMatchesPillowBitForBit) {
  struct Golden { int w, h, ow, oh; uint64_t hash; };
  const Golden cases[] = {
      {300, 200, 224, 224, 0xbaf94db726e1de83ULL}, {17, 9, 224, 224, 0x508cadb3e329693fULL},
      {500, 224, 224, 224, 0x882ce71370355742ULL}, {224, 500, 224, 224, 0x89641cb91ff97cd3ULL},
      {640, 480, 224, 224, 0x29019849e0dbc247ULL}, {225, 223, 224, 224, 0xede3ff05b7117d3eULL},
      {1024, 768, 224, 224, 0x9f8b9352de27e1e5ULL}, {97, 61, 64, 40, 0x1845d46101bf2cfbULL},
  };
  for (const auto& g : cases) {
    const auto card = test_card(g.w, g.h);
    const auto image = Image::wrap_packed(card.data(), card.size(), g.w, g.h, PixelFormat::kRGB);
    EXPECT_EQ(fnv1a(resize_bicubic_pillow(image.view(), g.ow, g.oh)), g.hash) << g.w << "x" << g.h << " -> " << g.ow << "x" << g.oh;
  }
}

TEST(VisionPreprocess, SameSizeIsNormalisationOnly) {
  const auto card = test_card(224, 224);
  const auto image = Image::wrap_packed(card.data(), card.size(), 224, 224, PixelFormat::kRGB);
  const auto values = preprocess_image(image.view());
  ASSERT_EQ(values.sizes(), (at::IntArrayRef{3, 224, 224}));
  const auto expected = at::from_blob(const_cast<uint8_t*>(card.data()), {224, 224, 3}, at::kByte)
                            .permute({2, 0, 1}).to(at::kFloat).div(255).sub(0.5).div(0.5);
  EXPECT_TRUE(at::equal(values, expected));
  EXPECT_EQ(values[0][0][0].item<float>(), (card[0] / 255.0f - 0.5f) / 0.5f);
}

TEST(VisionPreprocess, HalfPrecisionRoundsTheFloatValueOnce) {
  const auto card = test_card(97, 61);
  const auto view = Image::wrap_packed(card.data(), card.size(), 97, 61, PixelFormat::kRGB).view();
  const auto f32 = preprocess_image(view);
  EXPECT_TRUE(at::equal(preprocess_image(view, {}, at::kHalf), f32.to(at::kHalf)));
  // Spec examples: k=0 -> -1, 127 -> -0.0039215087890625 (fp16 0x9C04), 255 -> 1.
  std::vector<uint8_t> three = {0, 0, 0, 127, 127, 127, 255, 255, 255};
  PreprocessConfig same{3, 1};
  const auto v = preprocess_image(Image::wrap_packed(three.data(), three.size(), 3, 1, PixelFormat::kRGB).view(), same,
                                  at::kHalf).to(at::kFloat);
  EXPECT_EQ(v[0][0][0].item<float>(), -1.0f);
  EXPECT_EQ(v[0][0][1].item<float>(), -0.0039215087890625f);
  EXPECT_EQ(v[0][0][2].item<float>(), 1.0f);
}

// Caller buffers in other layouts, with padding at the end of each row, are read in place
// and give exactly the values of a packed RGB copy.
TEST(VisionPreprocess, StridedViewsMatchPackedRgb) {
  const int w = 300, h = 200;
  const auto card = test_card(w, h);
  const auto reference = preprocess_image(Image::wrap_packed(card.data(), card.size(), w, h, PixelFormat::kRGB).view());

  struct Layout { PixelFormat format; int r, g, b, a; };
  for (const Layout layout : {Layout{PixelFormat::kRGBA, 0, 1, 2, 3}, Layout{PixelFormat::kBGR, 2, 1, 0, -1},
                              Layout{PixelFormat::kBGRA, 2, 1, 0, 3}, Layout{PixelFormat::kRGB, 0, 1, 2, -1}}) {
    const int channels = channel_count(layout.format);
    const int64_t stride = int64_t{w} * channels + 13;  // odd padding, filled with junk
    std::vector<uint8_t> buffer(static_cast<size_t>(stride) * h, 0xA5);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        uint8_t* px = &buffer[y * stride + x * channels];
        const uint8_t* src = &card[(static_cast<size_t>(y) * w + x) * 3];
        px[layout.r] = src[0];
        px[layout.g] = src[1];
        px[layout.b] = src[2];
        if (layout.a >= 0) px[layout.a] = static_cast<uint8_t>(x * 3 + y);  // alpha is ignored
      }
    }
    // The buffer only needs to reach the end of the last row's pixels.
    const size_t size = static_cast<size_t>(stride) * (h - 1) + static_cast<size_t>(w) * channels;
    const auto image = Image::wrap(buffer.data(), size, w, h, stride, layout.format);
    EXPECT_FALSE(image.owns_pixels());
    EXPECT_EQ(image.view().data, buffer.data()) << "wrap must not copy";
    EXPECT_TRUE(at::equal(preprocess_image(image.view()), reference)) << pixel_format_name(layout.format);
    EXPECT_EQ(image.to_packed_rgb(), card) << pixel_format_name(layout.format);
  }
}

TEST(VisionPreprocess, BatchStacksIndependentImages) {
  const auto a = test_card(300, 200), b = test_card(17, 9);
  const auto va = Image::wrap_packed(a.data(), a.size(), 300, 200, PixelFormat::kRGB).view();
  const auto vb = Image::wrap_packed(b.data(), b.size(), 17, 9, PixelFormat::kRGB).view();
  const auto batch = preprocess_images({va, vb});
  ASSERT_EQ(batch.sizes(), (at::IntArrayRef{2, 3, 224, 224}));
  EXPECT_TRUE(at::equal(batch[0], preprocess_image(va)));
  EXPECT_TRUE(at::equal(batch[1], preprocess_image(vb)));
}

TEST(VisionPreprocess, RejectsBadViewsAndConfigs) {
  const auto card = test_card(8, 8);
  const auto view = Image::wrap_packed(card.data(), card.size(), 8, 8, PixelFormat::kRGB).view();
  EXPECT_THROW(preprocess_image(ImageView{}), InvalidArgument);
  ImageView short_stride = view;
  short_stride.row_stride = 5;
  EXPECT_THROW(preprocess_image(short_stride), InvalidArgument);
  PreprocessConfig zero;
  zero.width = 0;
  EXPECT_THROW(preprocess_image(view, zero), InvalidArgument);
  PreprocessConfig bad_std;
  bad_std.std = {0.5f, 0.0f, 0.5f};
  EXPECT_THROW(preprocess_image(view, bad_std), InvalidArgument);
  EXPECT_THROW(preprocess_image(view, {}, at::kInt), InvalidArgument);
  EXPECT_THROW(resize_bicubic_pillow(view, 0, 10), InvalidArgument);
}

}  // namespace
}  // namespace viscpm::vision
