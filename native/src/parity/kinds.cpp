#include "parity/kinds.h"

#include <mutex>

namespace viscpm::parity {

void register_builtin_kinds() {
  static std::once_flag once;
  std::call_once(once, [] {
#if VISCPM_HAS_IO
    register_kind("checkpoint", run_checkpoint);
#endif
#if VISCPM_HAS_VISION
    register_kind("image_preprocess", run_image_preprocess);
    register_kind("beit3_forward", run_beit3_forward);
#endif
#if VISCPM_HAS_TEXT
    register_kind("tokenizer", run_tokenizer);
    register_kind("chat_input", run_chat_input);
    register_kind("paint_input", run_paint_input);
#endif
#if VISCPM_HAS_DIFFUSION
    register_kind("trans_block", run_trans_block);
    register_kind("unet_forward", run_unet_forward);
    register_kind("vae_decode", run_vae_decode);
    register_kind("scheduler", run_scheduler);
#if VISCPM_HAS_TEXT && VISCPM_HAS_CPMBEE  // the paint pipeline also needs the tokenizer and CPM-Bee
    register_kind("paint_pipeline", run_paint_pipeline);
#endif
#endif
#if VISCPM_HAS_CPMBEE
    register_kind("cpmbee_forward", run_cpmbee_forward);
    register_kind("cpmbee_incremental", run_cpmbee_incremental);
#endif
#if VISCPM_HAS_GENERATE
    register_kind("chat_beam_search", run_chat_beam_search);
#endif
  });
}

}  // namespace viscpm::parity
