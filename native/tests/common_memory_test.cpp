// Memory estimates and the mapping of allocator failures to OUT_OF_MEMORY.
#include <ATen/ops/empty.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/error_boundary.h"
#include "common/memory.h"

namespace {

TEST(CommonMemory, AvailableBytesAreKnownAndPositive) {
  EXPECT_GT(viscpm::memory::available_host_bytes(), uint64_t(1) << 20);
}

TEST(CommonMemory, ByteTextIsReadable) {
  EXPECT_EQ(viscpm::memory::byte_text(512), "512 bytes");
  EXPECT_EQ(viscpm::memory::byte_text(768e9), "768.0 GB");
  EXPECT_EQ(viscpm::memory::byte_text(1.28e14), "128.0 TB");
}

TEST(CommonMemory, RequireRefusesWhatCannotFitAndNamesIt) {
  viscpm::memory::require(1e6, "a small buffer", at::kCPU, "");
  try {
    viscpm::memory::require(1e18, "a huge buffer", at::kCPU, "ask for less");
    FAIL() << "1 EB accepted";
  } catch (const viscpm::OutOfMemory& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("a huge buffer needs about 1.0 EB but only"), std::string::npos) << m;
    EXPECT_NE(m.find("; ask for less"), std::string::npos) << m;
  }
}

TEST(CommonMemory, AllocatorFailuresAreOutOfMemoryNotInvalidArgument) {
  auto error = viscpm::catch_all([] { (void)at::empty({int64_t(1) << 58}, at::kByte); });  // 256 PB
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, viscpm::ErrorCode::kOutOfMemory) << error->message;
  EXPECT_NE(error->message.find("out of memory"), std::string::npos) << error->message;
}

}  // namespace
