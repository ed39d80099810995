#include "kernels/cuda/gated_gelu.cuh"

#include <ATen/ops/empty.h>

#include "kernels/cuda/cuda_common.cuh"

namespace viscpm::kernels::cuda {
namespace {

// in [rows, 2F] -> out [rows, F]. cpmbee: out = r(r(gelu(r(a / d))) * r(b / d)) where r
// rounds to T; geglu (cpmbee == false): out = r(a * r(gelu(b))).
template <class T, bool kCpmBee>
__global__ void gated_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t rows, int64_t dim_ff,
                             float divisor) {
  const int64_t n = rows * dim_ff;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / dim_ff, col = i - row * dim_ff;
    const float a = to_float(in[row * 2 * dim_ff + col]), b = to_float(in[row * 2 * dim_ff + dim_ff + col]);
    if (kCpmBee) {
      const float gate = round_to<T>(gelu_erf(round_to<T>(a / divisor)));
      out[i] = static_cast<T>(gate * round_to<T>(b / divisor));
    } else {
      out[i] = static_cast<T>(a * round_to<T>(gelu_erf(b)));
    }
  }
}

template <bool kCpmBee>
at::Tensor run(const at::Tensor& in_, double divisor, const char* what) {
  const at::Tensor in = in_.contiguous();
  const int64_t dim_ff = in.size(-1) / 2, rows = in.numel() / in.size(-1);
  std::vector<int64_t> shape(in.sizes().begin(), in.sizes().end());
  shape.back() = dim_ff;
  at::Tensor out = at::empty(shape, in.options());
  if (out.numel() == 0) return out;
  dispatch_float_types(in.scalar_type(), what, [&](auto tag) {
    using T = decltype(tag);
    gated_kernel<T, kCpmBee><<<blocks_for(rows * dim_ff, 256), 256, 0, current_stream()>>>(
        in.data_ptr<T>(), out.data_ptr<T>(), rows, dim_ff, static_cast<float>(divisor));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace

at::Tensor gated_gelu_epilogue(const at::Tensor& both, double divisor) {
  return run<true>(both, divisor, "gated_gelu_epilogue");
}
at::Tensor geglu_epilogue(const at::Tensor& halves) { return run<false>(halves, 1.0, "geglu_epilogue"); }

}  // namespace viscpm::kernels::cuda
