// Shared helpers of the CPM-Bee golden-case runners.
#pragma once

#include "cpmbee/model.h"
#include "testkit/parity/parity.h"

#include <memory>
#include <string>

namespace viscpm::cpmbee {

// The case's model (config from the manifest's cpm_bee_config of the case's model entry,
// else <model dir>/cpm-bee.json), fp32, loaded from the case's checkpoint under
// params.checkpoint_prefix (default "llm."), shared by the cases of a suite.
std::shared_ptr<CpmBee> parity_model(const parity::Case& c);

}  // namespace viscpm::cpmbee
