// Golden parity of the CPM-Bee transformer: full forward (paint model) and the cached
// incremental pass (chat model) against the reference fixtures.
#include "test_support.h"

TEST(CpmBeeParity, Forward) { viscpm::testing::expect_kind_passes("cpmbee_forward"); }

TEST(CpmBeeParity, Incremental) { viscpm::testing::expect_kind_passes("cpmbee_incremental"); }
