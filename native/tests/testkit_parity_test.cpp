// Golden cases of the chat generation concern.
#include "test_support.h"

TEST(GenerateParity, ChatBeamSearch) { viscpm::testing::expect_kind_passes("chat_beam_search"); }
