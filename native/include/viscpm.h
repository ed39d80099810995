/*
 * VisCPM native runtime: the public C API.
 *
 * This header is the only surface the JVM binding (JavaCPP, presets/) maps. It is plain C:
 * opaque handles with create/free pairs, a status code from every fallible call and a
 * per-thread message describing the last failure (viscpm_last_error). No C++ exception
 * crosses it: every entry point catches and converts.
 *
 * Strings are UTF-8. Memory returned by the library is freed by the matching *_free
 * call; memory passed in by the caller is only borrowed for the duration of the call
 * (buffers are read in place, never copied first).
 */
#ifndef VISCPM_H
#define VISCPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VISCPM_API __declspec(dllexport)
#else
#define VISCPM_API __attribute__((visibility("default")))
#endif

/* Same values as viscpm::ErrorCode (native/src/common/error.h). */
typedef enum viscpm_status {
  VISCPM_OK = 0,
  VISCPM_INVALID_ARGUMENT = 1, /* bad user input: text, image, shape, option value */
  VISCPM_FORMAT_ERROR = 2,     /* a file is corrupt, truncated, or has wrong keys/shapes */
  VISCPM_NOT_FOUND = 3,        /* a named file or directory does not exist */
  VISCPM_OUT_OF_MEMORY = 4,
  VISCPM_CANCELLED = 5,
  VISCPM_UNSUPPORTED = 6,
  VISCPM_IO_ERROR = 7,
  VISCPM_INTERNAL = 8,
  VISCPM_STATUS_COUNT = 9
} viscpm_status;

/* Name of a status ("FORMAT_ERROR"); never NULL. */
VISCPM_API const char* viscpm_status_name(int status);
/* Message of the last failed call on this thread ("" if none). Valid until the next call. */
VISCPM_API const char* viscpm_last_error(void);

/* ------------------------------------------------------------------ runtime */

VISCPM_API const char* viscpm_version(void);
/* Version of the LibTorch the library runs on (queried from LibTorch at run time). */
VISCPM_API const char* viscpm_torch_version(void);
/* CPU threads of the runtime that every model in the process shares: LibTorch's intra-op
 * pool (OpenMP) and the BLAS pool are set together. 0 = one per logical CPU (LibTorch's
 * default); counts above the machine's logical CPUs are clamped to them (the effective
 * count is what viscpm_get_num_threads reports). Negative counts are VISCPM_INVALID_ARGUMENT. */
VISCPM_API viscpm_status viscpm_set_num_threads(int num_threads);
VISCPM_API int viscpm_get_num_threads(void);
/* Logical CPUs of this machine (the most threads viscpm_set_num_threads gives). */
VISCPM_API int viscpm_hardware_threads(void);
/* 1 if a CUDA device is usable by this build, else 0. */
VISCPM_API int viscpm_cuda_available(void);

/* Address of a caller buffer as the native side sees it, and a checksum computed by a
 * LibTorch op over the same bytes in place: proves buffers cross without a copy. */
VISCPM_API viscpm_status viscpm_buffer_probe(const void* data, int64_t size, uint64_t* address_out,
                                             int64_t* byte_sum_out);

/* ------------------------------------------------------------------ checkpoints */

/* A lazily read weight file: torch.save zip (.pt/.bin) or safetensors. */
typedef struct viscpm_checkpoint viscpm_checkpoint;

#define VISCPM_MAX_DIMS 16

typedef struct viscpm_tensor_info {
  const char* name;  /* owned by the checkpoint */
  const char* dtype; /* "float32", "float16", "bfloat16", "int64", ... owned by the library */
  int32_t ndim;
  int64_t shape[VISCPM_MAX_DIMS];
  int64_t nbytes; /* bytes of the logical tensor in its stored dtype */
  int32_t contiguous;
} viscpm_tensor_info;

VISCPM_API viscpm_status viscpm_checkpoint_open(const char* path, viscpm_checkpoint** out);
VISCPM_API void viscpm_checkpoint_free(viscpm_checkpoint* checkpoint);
/* "torch-zip" or "safetensors". */
VISCPM_API const char* viscpm_checkpoint_format(const viscpm_checkpoint* checkpoint);
VISCPM_API int64_t viscpm_checkpoint_count(const viscpm_checkpoint* checkpoint);
VISCPM_API viscpm_status viscpm_checkpoint_info(const viscpm_checkpoint* checkpoint, int64_t index,
                                                viscpm_tensor_info* out);
/* Reads tensor `name` converted to float32 into `dst` (capacity in floats), in place. */
VISCPM_API viscpm_status viscpm_checkpoint_read_f32(const viscpm_checkpoint* checkpoint, const char* name,
                                                    float* dst, int64_t capacity);

/* ------------------------------------------------------------------ tokenizer */

/* The CPM-Bee tokenizer over a vocabulary file (bee.txt format). Immutable once loaded:
 * one handle may be used from many threads at once. */
typedef struct viscpm_tokenizer viscpm_tokenizer;
/* The result of one encode call: ids plus the ext table of strings the vocabulary lacks
 * (unknown runs, special tokens such as <ans_1>), ids vocab_size + index. */
typedef struct viscpm_encoding viscpm_encoding;

VISCPM_API viscpm_status viscpm_tokenizer_load(const char* vocab_path, viscpm_tokenizer** out);
VISCPM_API void viscpm_tokenizer_free(viscpm_tokenizer* tokenizer);
VISCPM_API int32_t viscpm_tokenizer_vocab_size(const viscpm_tokenizer* tokenizer);
/* `text` is UTF-8 of `text_bytes` bytes (may contain NUL). Text the reference rejects is
 * VISCPM_INVALID_ARGUMENT with the offending position in the message. */
VISCPM_API viscpm_status viscpm_tokenizer_encode(const viscpm_tokenizer* tokenizer, const char* text,
                                                 int64_t text_bytes, viscpm_encoding** out);
VISCPM_API void viscpm_encoding_free(viscpm_encoding* encoding);
VISCPM_API int64_t viscpm_encoding_count(const viscpm_encoding* encoding);
/* Copies the ids into `dst` (capacity in elements). */
VISCPM_API viscpm_status viscpm_encoding_ids(const viscpm_encoding* encoding, int32_t* dst, int64_t capacity);
VISCPM_API int64_t viscpm_encoding_ext_count(const viscpm_encoding* encoding);
/* Text of ext entry `index` (id = vocab_size + index), owned by the encoding, and its length
 * in bytes (text may contain NUL); NULL if out of range. */
VISCPM_API const char* viscpm_encoding_ext_text(const viscpm_encoding* encoding, int64_t index,
                                                int64_t* text_bytes_out);
/* A list of UTF-8 strings (each may contain NUL: lengths are in bytes). */
typedef struct viscpm_string_list viscpm_string_list;
VISCPM_API int64_t viscpm_string_list_count(const viscpm_string_list* list);
/* Entry `index` (owned by the list) and its length in bytes; NULL if out of range. */
VISCPM_API const char* viscpm_string_list_get(const viscpm_string_list* list, int64_t index, int64_t* bytes_out);
VISCPM_API void viscpm_string_list_free(viscpm_string_list* list);

/* Pieces of `text` (the reference's tokenize). */
VISCPM_API viscpm_status viscpm_tokenizer_tokenize(const viscpm_tokenizer* tokenizer, const char* text,
                                                   int64_t text_bytes, viscpm_string_list** pieces_out);
/* Text of `ids` (escaped: a literal '<' comes back as '<<'); ids >= vocab_size are looked up
 * in `ext_texts` (index id - vocab_size, each of ext_bytes[i] bytes). The result is
 * *text_bytes_out bytes long (it may contain NUL; a terminating NUL follows); free it with
 * viscpm_string_free. */
VISCPM_API viscpm_status viscpm_tokenizer_decode(const viscpm_tokenizer* tokenizer, const int32_t* ids,
                                                 int64_t count, const char* const* ext_texts,
                                                 const int64_t* ext_bytes, int64_t ext_count, char** text_out,
                                                 int64_t* text_bytes_out);

/* ------------------------------------------------------------------ models */

/* Enums cross the API by value. Each has a _COUNT, a name for every value and a parser
 * (names are lower case, e.g. "bfloat16"; parsers accept upper case and '-' for '_' too):
 * the one place where names and values are matched. *_name returns NULL out of range;
 * *_parse returns VISCPM_INVALID_ARGUMENT (naming the accepted values) for an unknown name. */

typedef enum viscpm_dtype {
  VISCPM_DTYPE_AUTO = 0, /* float32 on the CPU, float16 on CUDA (the reference's numerics) */
  VISCPM_DTYPE_FLOAT32 = 1,
  VISCPM_DTYPE_BFLOAT16 = 2,
  VISCPM_DTYPE_FLOAT16 = 3,
  /* CPM-Bee's weight matrices as int8 rows with a float32 scale each (quantized at load, or
   * as written by viscpm_quantize_model); everything else as AUTO. AUTO loads a quantized
   * checkpoint this way too; the float dtypes refuse one. */
  VISCPM_DTYPE_INT8 = 4,
  VISCPM_DTYPE_COUNT = 5
} viscpm_dtype;
VISCPM_API const char* viscpm_dtype_name(int32_t dtype);
VISCPM_API viscpm_status viscpm_dtype_parse(const char* name, int32_t* dtype_out);

/* Defaults come from viscpm_model_default_params() only. */
typedef struct viscpm_model_params {
  const char* device;       /* "cpu" (default), "cuda", "cuda:N" or "auto" (CUDA when usable, else the CPU) */
  int32_t dtype;            /* viscpm_dtype */
  int32_t verify_checksums; /* 1 (default): check the CRC-32 of every checkpoint record read */
  int32_t low_memory;       /* paint only, 0 (default): 1 keeps CPM-Bee only while a prompt is encoded */
} viscpm_model_params;

VISCPM_API viscpm_model_params viscpm_model_default_params(void);

/* Interleaved 8-bit pixel layouts accepted without copying. */
typedef enum viscpm_pixel_format {
  VISCPM_PIXELS_RGB = 0,
  VISCPM_PIXELS_RGBA = 1,
  VISCPM_PIXELS_BGR = 2,
  VISCPM_PIXELS_BGRA = 3,
  VISCPM_PIXELS_COUNT = 4
} viscpm_pixel_format;
VISCPM_API const char* viscpm_pixel_format_name(int32_t format);
VISCPM_API viscpm_status viscpm_pixel_format_parse(const char* name, int32_t* format_out);

/* Called with UTF-8 text as it becomes final (streaming). Return 0 to go on, non-zero to cancel. */
typedef int32_t (*viscpm_text_callback)(const char* text, void* user_data);
/* Called after each denoising step. Return 0 to go on, non-zero to cancel. */
typedef int32_t (*viscpm_progress_callback)(int32_t step, int32_t total_steps, void* user_data);

/* ------------------------------------------------------------------ chat (VisCPM-Chat) */

typedef enum viscpm_decoding {
  VISCPM_DECODE_BEAM_SEARCH = 0, /* the reference's decoder, token for token */
  VISCPM_DECODE_GREEDY = 1,
  VISCPM_DECODE_SAMPLING = 2,    /* top-k / top-p with a seed */
  VISCPM_DECODE_COUNT = 3
} viscpm_decoding;
VISCPM_API const char* viscpm_decoding_name(int32_t decoding);
VISCPM_API viscpm_status viscpm_decoding_parse(const char* name, int32_t* decoding_out);

/* Defaults (viscpm_generation_default_params, the only place they are written) are the
 * released VisCPM-Chat settings. */
typedef struct viscpm_generation_params {
  int32_t decoding;           /* viscpm_decoding */
  int32_t beam_size;          /* 3 */
  int32_t max_length;         /* 512 */
  int32_t max_input_length;   /* 3000 */
  float temperature;          /* 0.7 */
  float repetition_penalty;   /* 1.1 */
  float length_penalty;       /* 3 */
  int32_t top_k;              /* sampling: 0 = all */
  float top_p;                /* sampling: 1 = all */
  uint64_t seed;              /* sampling */
  int32_t escape_text;        /* 1: a literal '<' in the question just works; 0: the reference's markup */
} viscpm_generation_params;

VISCPM_API viscpm_generation_params viscpm_generation_default_params(void);

/* A loaded VisCPM-Chat model: immutable, shareable by sessions on any threads. */
typedef struct viscpm_chat_model viscpm_chat_model;
/* One conversation about one image: holds the image's vision states and the history. Not
 * thread-safe (one turn at a time); viscpm_chat_session_cancel may be called from any thread. */
typedef struct viscpm_chat_session viscpm_chat_session;

/* model_dir holds the checkpoint, cpm-bee.json, (beit3.json) and bee.txt; see models/README.md. */
VISCPM_API viscpm_status viscpm_chat_model_load(const char* model_dir, const viscpm_model_params* params,
                                                viscpm_chat_model** out);
/* Explicit files; NULL (or "") entries are looked for in model_dir as viscpm_chat_model_load
 * does (beit3_config may stay unset: the released BEiT-3 large configuration). */
VISCPM_API viscpm_status viscpm_chat_model_load_files(const char* model_dir, const char* checkpoint,
                                                      const char* cpm_bee_config, const char* beit3_config,
                                                      const char* vocabulary, const viscpm_model_params* params,
                                                      viscpm_chat_model** out);
VISCPM_API void viscpm_chat_model_free(viscpm_chat_model* model);
/* How many times the vision encoder ran (a session's later turns reuse its states). */
VISCPM_API int64_t viscpm_chat_model_vision_encoder_calls(const viscpm_chat_model* model);

VISCPM_API viscpm_status viscpm_chat_session_open_file(const viscpm_chat_model* model, const char* image_path,
                                                       viscpm_chat_session** out);
/* Encoded image bytes (PNG, JPEG, BMP, WebP). */
VISCPM_API viscpm_status viscpm_chat_session_open_bytes(const viscpm_chat_model* model, const uint8_t* bytes,
                                                        int64_t size, viscpm_chat_session** out);
/* Caller pixels read in place (no copy before the resize): `size` bytes at `pixels`, rows
 * `row_stride` bytes apart, layout viscpm_pixel_format. */
VISCPM_API viscpm_status viscpm_chat_session_open_pixels(const viscpm_chat_model* model, const uint8_t* pixels,
                                                         int64_t size, int32_t width, int32_t height,
                                                         int64_t row_stride, int32_t format,
                                                         viscpm_chat_session** out);
VISCPM_API void viscpm_chat_session_free(viscpm_chat_session* session);
/* What one chat turn produced; every pointer is owned by the turn (viscpm_chat_turn_free). */
typedef struct viscpm_chat_turn {
  const char* answer;       /* UTF-8 text for the user, NUL-terminated */
  int64_t answer_bytes;     /* its length in bytes (it may contain NUL) */
  const int32_t* token_ids; /* output ids of the chosen hypothesis, a final EOS included */
  int64_t token_count;
  int32_t ended_with_eos;   /* 0: cut by max_length */
  double score;             /* beam search: sum_logprobs / length^length_penalty */
  double sum_logprobs;
  int64_t prompt_tokens;    /* tokens of the prompt fed to the model (image placeholders included) */
  int64_t model_steps;      /* decode steps run after the prefill */
  int32_t encoded_image;    /* 1: the vision encoder ran for this turn; 0: the session's states were reused */
} viscpm_chat_turn;

/* One turn. `on_text` (optional) receives the answer as it becomes final. A cancelled turn
 * leaves the history unchanged and returns VISCPM_CANCELLED. */
VISCPM_API viscpm_status viscpm_chat_session_ask(viscpm_chat_session* session, const char* question,
                                                 const viscpm_generation_params* params,
                                                 viscpm_text_callback on_text, void* user_data,
                                                 viscpm_chat_turn** turn_out);
VISCPM_API void viscpm_chat_turn_free(viscpm_chat_turn* turn);
/* Asks a running turn to stop (any thread); it ends with VISCPM_CANCELLED. */
VISCPM_API void viscpm_chat_session_cancel(viscpm_chat_session* session);
/* Replaces the history (same format, model text: a literal '<' written "<<"); the next turn
 * continues it. For restoring a conversation kept elsewhere (e.g. an HTTP client's messages). */
VISCPM_API viscpm_status viscpm_chat_session_set_context(viscpm_chat_session* session, const char* context);
/* The history in the reference's format ("User: ...\nAI: ...\n"); free with viscpm_string_free. */
VISCPM_API viscpm_status viscpm_chat_session_context(const viscpm_chat_session* session, char** context_out);

/* ------------------------------------------------------------------ paint (VisCPM-Paint) */

typedef enum viscpm_scheduler {
  VISCPM_SCHEDULER_DDPM = 0, /* the reference's scheduler */
  VISCPM_SCHEDULER_DDIM = 1,
  VISCPM_SCHEDULER_PNDM = 2,
  VISCPM_SCHEDULER_EULER = 3,
  VISCPM_SCHEDULER_EULER_ANCESTRAL = 4,
  VISCPM_SCHEDULER_DPMSOLVER_MULTISTEP = 5,
  VISCPM_SCHEDULER_COUNT = 6
} viscpm_scheduler;
/* Canonical names ("ddpm", ..., "dpmsolver_multistep"); the parser also takes the aliases
 * (diffusers class names such as "DDIMScheduler", "euler_a", "dpm++2m"). */
VISCPM_API const char* viscpm_scheduler_name(int32_t scheduler);
VISCPM_API viscpm_status viscpm_scheduler_parse(const char* name, int32_t* scheduler_out);

/* Defaults come from viscpm_paint_default_params() only. */
typedef struct viscpm_paint_params {
  const char* prompt;
  const char* negative_prompt; /* NULL or "" = none (the reference's default) */
  int32_t scheduler;           /* viscpm_scheduler (default DDPM) */
  int32_t width, height;       /* pixels, multiples of the model's size multiple; 0 = the model's default (512) */
  int32_t steps;               /* 50 */
  float guidance_scale;        /* 7.5 */
  int32_t num_images;          /* 1 */
  float eta;                   /* DDIM only */
  uint64_t seed;
  int32_t has_seed;            /* 0: a fresh random seed (reported back) */
} viscpm_paint_params;

VISCPM_API viscpm_paint_params viscpm_paint_default_params(void);

/* A loaded VisCPM-Paint model: immutable; generate may run on several threads at once. */
typedef struct viscpm_paint_model viscpm_paint_model;

/* model_dir holds the checkpoint, cpm-bee.json, bee.txt and the SD 2.1-base unet/, vae/,
 * scheduler/ folders (see models/README.md); checkpoint and vocabulary may be given
 * explicitly instead (NULL or "": look in model_dir). */
VISCPM_API viscpm_status viscpm_paint_model_load(const char* model_dir, const char* checkpoint,
                                                 const char* vocabulary, const viscpm_model_params* params,
                                                 viscpm_paint_model** out);
VISCPM_API void viscpm_paint_model_free(viscpm_paint_model* model);
/* Side lengths must be multiples of this; the default side when 0 is given. */
VISCPM_API int32_t viscpm_paint_size_multiple(const viscpm_paint_model* model);
VISCPM_API int32_t viscpm_paint_default_size(const viscpm_paint_model* model);
/* Paints num_images RGB images into dst (num_images * height * width * 3 bytes, row-major,
 * image after image), written in place. `on_step` (optional) is called after each denoising
 * step; a non-zero return cancels (VISCPM_CANCELLED). *seed_out receives the seed used. */
VISCPM_API viscpm_status viscpm_paint_generate(const viscpm_paint_model* model, const viscpm_paint_params* params,
                                               viscpm_progress_callback on_step, void* user_data, uint8_t* dst,
                                               int64_t capacity, uint64_t* seed_out);

/* ------------------------------------------------------------------ quantization */

/* Writes to out_dir (created; it must be new or empty, and outside model_dir) a copy of the
 * VisCPM-Chat or VisCPM-Paint model directory whose checkpoint holds CPM-Bee's matrices as
 * int8 rows with float32 scales ("<checkpoint stem>.int8.safetensors"; every other file and
 * tensor as it was), so that it loads with VISCPM_DTYPE_INT8 (or AUTO) without quantizing.
 * `dtype` must be VISCPM_DTYPE_INT8. `on_tensor` (optional) is called after each tensor with
 * (done, total); a non-zero return cancels (VISCPM_CANCELLED, no checkpoint left behind).
 * The byte counts (optional) receive the tensor bytes of the two checkpoints. */
VISCPM_API viscpm_status viscpm_quantize_model(const char* model_dir, const char* out_dir, int32_t dtype,
                                               viscpm_progress_callback on_tensor, void* user_data,
                                               int64_t* bytes_before_out, int64_t* bytes_after_out);

/* Frees a string returned by the library (viscpm_tokenizer_decode, viscpm_chat_session_context). */
VISCPM_API void viscpm_string_free(char* s);

#ifdef __cplusplus
}
#endif

#endif /* VISCPM_H */
