#include "kernels/cuda/decode_attention.cuh"

#include <ATen/ops/empty.h>

#include <cmath>

#include "kernels/cuda/cuda_common.cuh"

namespace viscpm::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // dh <= 32 * 8

struct Strides4 {
  int64_t b, h, t, d;
};

template <class T>
__global__ void __launch_bounds__(kWarps * 32)
    decode_chunk_kernel(const T* __restrict__ q, Strides4 qs, const T* __restrict__ k, Strides4 ks,
                        const T* __restrict__ v, Strides4 vs, const T* __restrict__ bias, Strides4 bs,
                        const bool* __restrict__ blocked, Strides4 ms, int heads, int dim_head, int64_t total,
                        int64_t chunk, float inv_divisor, float* __restrict__ part_max, float* __restrict__ part_sum,
                        float* __restrict__ part_acc) {
  const int bh = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
  const int b = bh / heads, h = bh - b * heads;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t t0 = split * chunk, t1 = min(total, t0 + chunk);

  float qv[kMaxPerLane], acc[kMaxPerLane];
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    qv[j] = d < dim_head ? to_float(q[b * qs.b + h * qs.h + d]) : 0.f;
    acc[j] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  const T* kbase = k + b * ks.b + h * ks.h;
  const T* vbase = v + b * vs.b + h * vs.h;
  for (int64_t t = t0 + warp; t < t1; t += kWarps) {
    if (blocked != nullptr && blocked[b * ms.b + h * ms.h + t * ms.t]) continue;  // warp-uniform
    float dot = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < dim_head) dot += qv[j] * to_float(kbase[t * ks.t + d]);
    }
    const float s = warp_sum(dot) * inv_divisor + to_float(bias[b * bs.b + h * bs.h + t * bs.t]);
    const float m_new = fmaxf(m, s);
    const float correction = __expf(m - m_new), p = __expf(s - m_new);
    l = l * correction + p;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < dim_head) acc[j] = acc[j] * correction + p * to_float(vbase[t * vs.t + d]);
    }
    m = m_new;
  }

  // Merge the warps of this block.
  __shared__ float s_max[kWarps], s_sum[kWarps];
  __shared__ float s_acc[kWarps][32 * kMaxPerLane];
  if (lane == 0) {
    s_max[warp] = m;
    s_sum[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) s_acc[warp][lane + 32 * j] = acc[j];
  __syncthreads();
  float block_max = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, s_max[w]);
  const int64_t slot = int64_t{bh} * splits + split;
  for (int d = threadIdx.x; d < dim_head; d += blockDim.x) {
    float a = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w)
      if (s_max[w] != -INFINITY) a += s_acc[w][d] * __expf(s_max[w] - block_max);
    part_acc[slot * dim_head + d] = a;
  }
  if (threadIdx.x == 0) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w)
      if (s_max[w] != -INFINITY) sum += s_sum[w] * __expf(s_max[w] - block_max);
    part_max[slot] = block_max;
    part_sum[slot] = sum;
  }
}

// out[b, 0, h·dh + d] = Σ_s e^(m_s - M) acc_s[d] / Σ_s e^(m_s - M) l_s; 0 when nothing is visible.
template <class T>
__global__ void merge_kernel(const float* __restrict__ part_max, const float* __restrict__ part_sum,
                             const float* __restrict__ part_acc, int splits, int dim_head, T* __restrict__ out) {
  const int bh = blockIdx.x;
  float global_max = -INFINITY;
  for (int s = 0; s < splits; ++s) global_max = fmaxf(global_max, part_max[bh * splits + s]);
  float denominator = 0.f;
  for (int s = 0; s < splits; ++s) {
    const float ms = part_max[bh * splits + s];
    if (ms != -INFINITY) denominator += part_sum[bh * splits + s] * __expf(ms - global_max);
  }
  for (int d = threadIdx.x; d < dim_head; d += blockDim.x) {
    float numerator = 0.f;
    for (int s = 0; s < splits; ++s) {
      const float ms = part_max[bh * splits + s];
      if (ms != -INFINITY) numerator += part_acc[(int64_t{bh} * splits + s) * dim_head + d] * __expf(ms - global_max);
    }
    out[int64_t{bh} * dim_head + d] = static_cast<T>(denominator > 0.f ? numerator / denominator : 0.f);
  }
}

Strides4 strides_of(const at::Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)}; }
// Strides over [B, H, ., T] of a broadcastable [B|1, H|1, 1, T] tensor (0 on broadcast dims).
Strides4 broadcast_strides(const at::Tensor& t) {
  return {t.size(0) == 1 ? 0 : t.stride(0), t.size(1) == 1 ? 0 : t.stride(1), t.stride(3), 0};
}

int multiprocessors() {
  static const int count = [] {
    int device = 0, n = 0;
    C10_CUDA_CHECK(cudaGetDevice(&device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n > 0 ? n : 1;
  }();
  return count;
}

}  // namespace

bool cpmbee_decode_attention_supports(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values) {
  return q.dim() == 4 && q.size(2) == 1 && q.size(3) <= 32 * kMaxPerLane && q.stride(3) == 1 &&
         keys.stride(3) == 1 && values.stride(3) == 1 && keys.scalar_type() == q.scalar_type() &&
         values.scalar_type() == q.scalar_type() && keys.size(2) > 0;
}

at::Tensor cpmbee_decode_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                   const at::Tensor& bias_in, const at::Tensor& blocked_in, double score_divisor) {
  const int64_t batch = q.size(0), heads = q.size(1), dim_head = q.size(3), total = keys.size(2);
  const at::Tensor bias = bias_in.scalar_type() == q.scalar_type() ? bias_in : bias_in.to(q.scalar_type());
  // Enough blocks to cover the multiprocessors twice, chunks of at least 32 keys.
  const int64_t rows = batch * heads;
  const int64_t wanted = std::max<int64_t>(1, (2 * multiprocessors() + rows - 1) / rows);
  const int64_t chunk = std::max<int64_t>(32, (total + wanted - 1) / wanted);
  const int64_t splits = (total + chunk - 1) / chunk;
  // One fp32 workspace per call: [max | sum | acc] of every (row, head, chunk).
  const int64_t slots = rows * splits;
  at::Tensor workspace = at::empty({slots * (2 + dim_head)}, q.options().dtype(at::kFloat));
  at::Tensor part_max = workspace.narrow(0, 0, slots), part_sum = workspace.narrow(0, slots, slots);
  at::Tensor part_acc = workspace.narrow(0, 2 * slots, slots * dim_head);
  at::Tensor out = at::empty({batch, 1, heads * dim_head}, q.options());
  const Strides4 ms = blocked_in.defined() ? broadcast_strides(blocked_in) : Strides4{0, 0, 0, 0};
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(splits));
  dispatch_float_types(q.scalar_type(), "cpmbee_decode_attention", [&](auto tag) {
    using T = decltype(tag);
    decode_chunk_kernel<T><<<grid, kWarps * 32, 0, current_stream()>>>(
        q.data_ptr<T>(), strides_of(q), keys.data_ptr<T>(), strides_of(keys), values.data_ptr<T>(),
        strides_of(values), bias.data_ptr<T>(), broadcast_strides(bias),
        blocked_in.defined() ? blocked_in.data_ptr<bool>() : nullptr, ms, static_cast<int>(heads),
        static_cast<int>(dim_head), total, chunk, static_cast<float>(1.0 / score_divisor), part_max.data_ptr<float>(),
        part_sum.data_ptr<float>(), part_acc.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    merge_kernel<T><<<static_cast<unsigned>(rows), 128, 0, current_stream()>>>(
        part_max.data_ptr<float>(), part_sum.data_ptr<float>(), part_acc.data_ptr<float>(), static_cast<int>(splits),
        static_cast<int>(dim_head), out.data_ptr<T>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace viscpm::kernels::cuda
