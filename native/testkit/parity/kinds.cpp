#include "testkit/parity/kinds.h"

#include <mutex>

namespace viscpm::parity {

void register_builtin_kinds() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_kind("checkpoint", run_checkpoint);
    register_kind("image_preprocess", run_image_preprocess);
    register_kind("beit3_forward", run_beit3_forward);
    register_kind("tokenizer", run_tokenizer);
    register_kind("chat_input", run_chat_input);
    register_kind("paint_input", run_paint_input);
    register_kind("trans_block", run_trans_block);
    register_kind("unet_forward", run_unet_forward);
    register_kind("vae_decode", run_vae_decode);
    register_kind("scheduler", run_scheduler);
    register_kind("paint_pipeline", run_paint_pipeline);
    register_kind("cpmbee_forward", run_cpmbee_forward);
    register_kind("cpmbee_incremental", run_cpmbee_incremental);
    register_kind("chat_beam_search", run_chat_beam_search);
  });
}

}  // namespace viscpm::parity
