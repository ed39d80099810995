// One runner per case kind, each defined next to the code it checks
// (native/src/<concern>/parity_<kind>.cpp). Add a declaration here and a line to
// register_builtin_kinds() in kinds.cpp when a kind is implemented.
#pragma once
#include "testkit/parity/parity.h"

namespace viscpm::parity {

void register_builtin_kinds();  // idempotent

void run_checkpoint(const Case& c, Result& r);          // io/parity_checkpoint.cpp
void run_image_preprocess(const Case& c, Result& r);    // vision/parity_image_preprocess.cpp
void run_beit3_forward(const Case& c, Result& r);       // vision/parity_beit3_forward.cpp
void run_tokenizer(const Case& c, Result& r);           // text/parity_tokenizer.cpp
void run_chat_input(const Case& c, Result& r);          // text/parity_chat_input.cpp
void run_paint_input(const Case& c, Result& r);         // text/parity_paint_input.cpp
void run_trans_block(const Case& c, Result& r);         // diffusion/parity_trans_block.cpp
void run_unet_forward(const Case& c, Result& r);        // diffusion/parity_unet_forward.cpp
void run_vae_decode(const Case& c, Result& r);          // diffusion/parity_vae_decode.cpp
void run_scheduler(const Case& c, Result& r);           // diffusion/parity_scheduler.cpp
void run_paint_pipeline(const Case& c, Result& r);      // diffusion/parity_paint_pipeline.cpp
void run_cpmbee_forward(const Case& c, Result& r);      // cpmbee/parity_cpmbee_forward.cpp
void run_cpmbee_incremental(const Case& c, Result& r);  // cpmbee/parity_cpmbee_incremental.cpp
void run_chat_beam_search(const Case& c, Result& r);    // generate/parity_chat_beam_search.cpp
}  // namespace viscpm::parity
