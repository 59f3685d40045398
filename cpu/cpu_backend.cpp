#include "cpu/cpu_backend.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cpu/fast/kernels.h"
#include "core/kernel_stats.h"
#include "figs_build_config.h"

#if FIGS_WITH_ONEDNN
#include "cpu/onednn/kernels.h"
#endif

namespace figs::cpu {

namespace {

KernelMode mode_from_environment() {
  const char* v = std::getenv("FIGS_CPU_KERNELS");
  if (v == nullptr || std::strcmp(v, "fast") == 0 || *v == '\0') return KernelMode::Fast;
  if (std::strcmp(v, "reference") == 0) return KernelMode::Reference;
  fail("FIGS_CPU_KERNELS=", v, ": expected 'fast' or 'reference'");
}

std::atomic<KernelMode>& mode() {
  static std::atomic<KernelMode> m{mode_from_environment()};
  return m;
}

fast::VectorIsa widest_isa() {
  if (fast::avx512_supported()) return fast::VectorIsa::Avx512;
  return fast::cpu_supported() ? fast::VectorIsa::Avx2 : fast::VectorIsa::None;
}

// What the CPU lacks for `isa`, or nullptr when it can run it.
const char* missing_for(fast::VectorIsa isa) {
  if (isa == fast::VectorIsa::Avx512 && !fast::avx512_supported()) return "AVX-512F";
  if (isa == fast::VectorIsa::Avx2 && !fast::cpu_supported()) return "AVX2 and FMA";
  return nullptr;
}

fast::VectorIsa isa_from_environment() {
  const char* v = std::getenv("FIGS_CPU_ISA");
  if (v == nullptr || *v == '\0') return widest_isa();
  fast::VectorIsa isa = fast::VectorIsa::None;
  if (std::strcmp(v, "avx2") == 0)
    isa = fast::VectorIsa::Avx2;
  else if (std::strcmp(v, "avx512") == 0)
    isa = fast::VectorIsa::Avx512;
  else
    FIGS_CHECK(std::strcmp(v, "none") == 0, "FIGS_CPU_ISA=", v, ": expected 'none', 'avx2' or 'avx512'");
  const char* missing = missing_for(isa);
  FIGS_CHECK(missing == nullptr, "FIGS_CPU_ISA=", v, ", but this CPU has no ", missing);
  return isa;
}

std::atomic<fast::VectorIsa>& isa() {
  static std::atomic<fast::VectorIsa> i{isa_from_environment()};
  return i;
}

// The own vectorised kernels run when the mode allows, the CPU has AVX2+FMA (the width is not
// None) and the dtype is f32.
bool vectorised(const Tensor& t) {
  return mode() == KernelMode::Fast && t.dtype() == DType::Float32 && isa() != fast::VectorIsa::None;
}
bool onednn_path(const Tensor& t) { return FIGS_WITH_ONEDNN && mode() == KernelMode::Fast && t.dtype() == DType::Float32; }

}  // namespace

KernelMode kernel_mode() { return mode(); }
void set_kernel_mode(KernelMode m) { mode() = m; }
const char* kernel_mode_name(KernelMode m) { return m == KernelMode::Fast ? "fast" : "reference"; }
fast::VectorIsa vector_isa() { return isa(); }
void set_vector_isa(fast::VectorIsa i) {
  const char* missing = missing_for(i);
  FIGS_CHECK(missing == nullptr, "set_vector_isa(", vector_isa_name(i), "): this CPU has no ", missing);
  isa() = i;
}
const char* vector_isa_name(fast::VectorIsa i) {
  switch (i) {
    case fast::VectorIsa::None: return "none";
    case fast::VectorIsa::Avx2: return "avx2";
    case fast::VectorIsa::Avx512: return "avx512";
  }
  return "?";
}

// A kernel served by an own vectorised kernel when it covers the case, else by the reference.
#define FIGS_VECTORISED_OR_REFERENCE(kernel, probe, fast_call, ref_call) \
  do {                                                                  \
    if (vectorised(probe) && (fast_call)) {                             \
      FIGS_COUNT_KERNEL(kernel, "avx2");                                \
    } else {                                                            \
      ref_call;                                                         \
      FIGS_COUNT_KERNEL(kernel, "reference");                           \
    }                                                                   \
  } while (false)

#if FIGS_WITH_ONEDNN
// A kernel served by oneDNN for float32, by the reference for float64 or in reference mode.
#define FIGS_ONEDNN_OR_REFERENCE(kernel, probe, onednn_call, ref_call) \
  do {                                                                 \
    if (onednn_path(probe)) {                                             \
      onednn_call;                                                     \
      FIGS_COUNT_KERNEL(kernel, "onednn");                             \
    } else {                                                           \
      ref_call;                                                        \
      FIGS_COUNT_KERNEL(kernel, "reference");                          \
    }                                                                  \
  } while (false)
#else
#define FIGS_ONEDNN_OR_REFERENCE(kernel, probe, onednn_call, ref_call) \
  do {                                                                 \
    ref_call;                                                          \
    FIGS_COUNT_KERNEL(kernel, "reference");                            \
  } while (false)
#endif

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  FIGS_VECTORISED_OR_REFERENCE("copy", dst, fast::copy(src, dst), ReferenceBackend::copy(src, dst));
}
void CpuBackend::concat(const std::vector<Tensor>& xs, int dim, const Tensor& y) {
  if (vectorised(y) && fast::concat_channels_last(xs, dim, y)) {
    FIGS_COUNT_KERNEL("concat", "avx2");
    return;
  }
  Backend::concat(xs, dim, y);  // a copy per input (counted as copies)
}
void CpuBackend::fill(const Tensor& out, double value) {
  FIGS_VECTORISED_OR_REFERENCE("fill", out, fast::fill(out, value), ReferenceBackend::fill(out, value));
}
void CpuBackend::unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) {
  FIGS_VECTORISED_OR_REFERENCE("unary", x, fast::unary(op, alpha, x, y), ReferenceBackend::unary(op, alpha, x, y));
}
void CpuBackend::unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy,
                                const Tensor& gx) {
  FIGS_VECTORISED_OR_REFERENCE("unary_backward", x, fast::unary_backward(op, alpha, x, y, gy, gx),
                               ReferenceBackend::unary_backward(op, alpha, x, y, gy, gx));
}
void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  FIGS_VECTORISED_OR_REFERENCE("binary", out, fast::binary(op, a, b, out), ReferenceBackend::binary(op, a, b, out));
}
void CpuBackend::sum(const Tensor& x, const Tensor& out) {
  FIGS_VECTORISED_OR_REFERENCE("sum", x, fast::sum(x, out), ReferenceBackend::sum(x, out));
}
void CpuBackend::channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                                        const Tensor& gscale) {
  FIGS_VECTORISED_OR_REFERENCE("channel_scale_backward", x, fast::channel_scale_backward(gy, x, scale, gx, gscale),
                               ReferenceBackend::channel_scale_backward(gy, x, scale, gx, gscale));
}
void CpuBackend::max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices) {
  FIGS_VECTORISED_OR_REFERENCE("max_pool2d_forward", x, fast::max_pool2d_forward(p, x, y, indices),
                               ReferenceBackend::max_pool2d_forward(p, x, y, indices));
}
void CpuBackend::max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices,
                                     const Tensor& gx) {
  FIGS_VECTORISED_OR_REFERENCE("max_pool2d_backward", gx, fast::max_pool2d_backward(p, gy, indices, gx),
                               ReferenceBackend::max_pool2d_backward(p, gy, indices, gx));
}
void CpuBackend::max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x,
                                                const Tensor& gx) {
  if (vectorised(gx) && fast::max_pool2d_backward_from_input(p, gy, x, gx)) {
    FIGS_COUNT_KERNEL("max_pool2d_backward_from_input", "avx2");
    return;
  }
  Backend::max_pool2d_backward_from_input(p, gy, x, gx);  // the forward's argmax, then the backward
}

void CpuBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  FIGS_ONEDNN_OR_REFERENCE("matmul", out, onednn::matmul(a, b, out), ReferenceBackend::matmul(a, b, out));
}
// Convolutions: oneDNN in float32 (its jit depthwise kernels beat ours on channels-last forward
// and backward-data: compare_pytorch.py), except depthwise backward-weights with k >= 5, where
// oneDNN 2.6 falls back to its generic grouped kernel and ours is ~4x faster; the reference for
// float64. Where oneDNN is not built, our depthwise kernels serve channels-last depthwise.
namespace {
bool own_depthwise_first(const Tensor& w) { return !FIGS_WITH_ONEDNN || w.size(2) >= 5; }
}  // namespace

void CpuBackend::conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                                const Tensor& y) {
  if (!FIGS_WITH_ONEDNN && vectorised(y) && fast::depthwise_conv2d_forward(p, x, w, bias, y)) {
    FIGS_COUNT_KERNEL("conv2d_forward", "avx2-depthwise");
    return;
  }
  FIGS_ONEDNN_OR_REFERENCE("conv2d_forward", y, onednn::conv2d_forward(p, x, w, bias, y),
                           ReferenceBackend::conv2d_forward(p, x, w, bias, y));
}
void CpuBackend::conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  if (!FIGS_WITH_ONEDNN && vectorised(gx) && fast::depthwise_conv2d_backward_data(p, gy, w, gx)) {
    FIGS_COUNT_KERNEL("conv2d_backward_data", "avx2-depthwise");
    return;
  }
  FIGS_ONEDNN_OR_REFERENCE("conv2d_backward_data", gx, onednn::conv2d_backward_data(p, gy, w, gx),
                           ReferenceBackend::conv2d_backward_data(p, gy, w, gx));
}
void CpuBackend::conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                        const Tensor& gbias) {
  if (own_depthwise_first(gw) && vectorised(gw)) {
    const fast::VectorIsa width = vector_isa();
    if (fast::depthwise_conv2d_backward_weight(p, gy, x, gw, gbias, width)) {
      if (width == fast::VectorIsa::Avx512)
        FIGS_COUNT_KERNEL("conv2d_backward_weight", "avx512-depthwise");
      else
        FIGS_COUNT_KERNEL("conv2d_backward_weight", "avx2-depthwise");
      return;
    }
  }
  FIGS_ONEDNN_OR_REFERENCE("conv2d_backward_weight", gw, onednn::conv2d_backward_weight(p, gy, x, gw, gbias),
                           ReferenceBackend::conv2d_backward_weight(p, gy, x, gw, gbias));
}
// Average pooling: own kernels on channels-last (oneDNN's exclude-padding backward is its
// reference implementation there), oneDNN on NCHW.
void CpuBackend::avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  if (vectorised(x) && fast::avg_pool2d_forward(p, x, y)) {
    FIGS_COUNT_KERNEL("avg_pool2d_forward", "avx2");
    return;
  }
  FIGS_ONEDNN_OR_REFERENCE("avg_pool2d_forward", x, onednn::avg_pool2d_forward(p, x, y),
                           ReferenceBackend::avg_pool2d_forward(p, x, y));
}
void CpuBackend::avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) {
  if (vectorised(gx) && fast::avg_pool2d_backward(p, gy, gx)) {
    FIGS_COUNT_KERNEL("avg_pool2d_backward", "avx2");
    return;
  }
  FIGS_ONEDNN_OR_REFERENCE("avg_pool2d_backward", gx, onednn::avg_pool2d_backward(p, gy, gx),
                           ReferenceBackend::avg_pool2d_backward(p, gy, gx));
}
// Batch norm: own kernels on dense channels-last float32 (cpu/fast/batch_norm.cpp, two passes each
// way) with the fused ReLU or where C is not a multiple of 16 (oneDNN 2.6's NHWC kernel is JIT
// only for C a multiple of its vector block and ~10x slower otherwise; exported widths are
// arbitrary); oneDNN otherwise, where its JIT kernel is faster than ours (BN alone, N 128, 2
// threads: 0.19-0.34 ms forward against 0.19-0.46 ms, 0.25-0.50 backward against 0.26-0.56).
// oneDNN's own fused ReLU needs its opaque workspace, so on its path (NCHW) the ReLU of p.relu is
// composed: a pass over y after the forward, one gating gy before the backward.
namespace {
bool own_batch_norm_first(const BatchNormParams& p, const Tensor& x) {
  return !FIGS_WITH_ONEDNN || p.relu || x.size(1) % 16 != 0;
}
}  // namespace

void CpuBackend::batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                             const Tensor& beta, const Tensor& running_mean,
                                             const Tensor& running_var, const Tensor& y, const Tensor& save_mean,
                                             const Tensor& save_invstd) {
  if (own_batch_norm_first(p, x) && vectorised(x) &&
      fast::batch_norm_forward_training(p, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd)) {
    FIGS_COUNT_KERNEL("batch_norm_forward_training", "avx2");
    return;
  }
  FIGS_ONEDNN_OR_REFERENCE(
      "batch_norm_forward_training", x,
      onednn::batch_norm_forward_training(p, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd);
      if (p.relu) unary(UnaryOp::Relu, 0, y, y),
      ReferenceBackend::batch_norm_forward_training(p, x, gamma, beta, running_mean, running_var, y, save_mean,
                                                    save_invstd));
}
void CpuBackend::batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const Tensor& running_mean,
                                              const Tensor& running_var, const Tensor& y) {
  if (own_batch_norm_first(p, x) && vectorised(x) && fast::batch_norm_forward_inference(p, x, gamma, beta, running_mean, running_var, y)) {
    FIGS_COUNT_KERNEL("batch_norm_forward_inference", "avx2");
    return;
  }
  FIGS_ONEDNN_OR_REFERENCE(
      "batch_norm_forward_inference", x,
      onednn::batch_norm_forward_inference(p, x, gamma, beta, running_mean, running_var, y);
      if (p.relu) unary(UnaryOp::Relu, 0, y, y),
      ReferenceBackend::batch_norm_forward_inference(p, x, gamma, beta, running_mean, running_var, y));
}
void CpuBackend::batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                     const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gx,
                                     const Tensor& ggamma, const Tensor& gbeta) {
  if (own_batch_norm_first(p, x) && vectorised(x)) {
    // gy is gathered densely first (a concat's backward hands out channel slices), with whichever
    // copy kernel takes its layout: the fast kernel's own gather cannot take every layout (an NCHW
    // gy for a channels-last x), and a forward of the fast kernel must get the fast backward and
    // its gate (Note [The fused ReLU's gate is recomputed]).
    Tensor dense_gy = gy;
    if (x.is_contiguous(MemoryFormat::ChannelsLast) && !gy.is_contiguous(MemoryFormat::ChannelsLast)) {
      dense_gy = empty_like(x);
      copy(gy, dense_gy);
    }
    if (fast::batch_norm_backward(p, dense_gy, x, gamma, beta, mean, invstd, gx, ggamma, gbeta)) {
      FIGS_COUNT_KERNEL("batch_norm_backward", "avx2");
      return;
    }
  }
  Tensor gated = gy;  // gy where BN(x) > 0, recomputed (Note [The fused ReLU's gate is recomputed])
  if (p.relu && onednn_path(x)) {
    gated = empty_like(x);
    Tensor dense_gy = gy;  // a concat's channel slice, say
    if (!gy.is_contiguous(x.memory_format())) {
      dense_gy = empty_like(x);
      copy(gy, dense_gy);
    }
    if (vectorised(x) && fast::batch_norm_relu_gate(dense_gy, x, gamma, beta, mean, invstd, gated))
      FIGS_COUNT_KERNEL("batch_norm_relu_gate", "avx2");
    else
      ReferenceBackend::batch_norm_relu_gate(p, dense_gy, x, gamma, beta, mean, invstd, gated);
  }
  FIGS_ONEDNN_OR_REFERENCE("batch_norm_backward", x,
                           onednn::batch_norm_backward(p, gated, x, gamma, mean, invstd, gx, ggamma, gbeta),
                           ReferenceBackend::batch_norm_backward(p, gy, x, gamma, beta, mean, invstd, gx, ggamma, gbeta));
}

#undef FIGS_VECTORISED_OR_REFERENCE
#undef FIGS_ONEDNN_OR_REFERENCE

CpuBackend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

namespace {
// Registers the CPU device's backend when the library loads (see core/backend.h).
const bool registered = [] {
  register_backend(DeviceType::CPU, &cpu_backend());
  return true;
}();
}  // namespace

}  // namespace figs::cpu
