// Dense, pointwise and grouped convolutions through cuDNN's convolution API
// (cudnnConvolutionForward / BackwardData / BackwardFilter; depthwise runs on
// cuda/depthwise_conv.cu).
//
// Descriptors and the chosen algorithms are cached per problem (shapes, strides, dtype,
// parameters), so a static-shape training step describes nothing after its first iteration;
// algorithms come from cuDNN's heuristics (the *_v7 queries: no trial runs, no allocation),
// taking the first that fits kMaxWorkspace, and workspaces come from the caching allocator.
// When the heuristics offer nothing usable for the operands' own layout, the problem is retried
// with every operand packed NCHW (see Attempt below); only then is it an error.
// Math follows cuda::tf32() (cuda/cuda.h): CUDNN_DEFAULT_MATH, which lets cuDNN use TF32 tensor
// cores where the GPU has them (the default, as in PyTorch), or CUDNN_FMA_MATH: true float32, so
// results match the CPU to float32 rounding (the CUDA tests). The math is part of a plan's key.
//
// Activations are described with their own strides (NCHW and channels-last alike, any dense
// layout; other views are copied); filters are given packed in the activations' format (NHWC
// for channels-last), copied when they are not (a small tensor). Bias: the elementwise add and the reduction of cuda/elementwise.cu, reduce.cu.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>

#include "core/kernel_stats.h"
#include "core/view.h"
#include "cuda/cuda.h"
#include "cuda/kernels.h"
#include "cuda/runtime.h"

#if FIGS_WITH_CUDNN
#include <cudnn.h>
#endif

namespace figs::cuda::kernels {

#if FIGS_WITH_CUDNN

namespace {

#define FIGS_CUDNN_CHECK(call)                                                                      \
  do {                                                                                              \
    const cudnnStatus_t figs_cudnn_status_ = (call);                                                \
    if (figs_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                                 \
      ::figs::fail("cuDNN error in ", #call, ": ", cudnnGetErrorString(figs_cudnn_status_), " at ", \
                   __FILE__, ":", __LINE__);                                                        \
  } while (false)

constexpr size_t kMaxWorkspace = size_t{1} << 30;

// The device's handle, set to the calling thread's current stream (cudnnSetStream is host-only).
cudnnHandle_t handle_for(int device) {
  static std::mutex mutex;
  static std::map<int, cudnnHandle_t>* handles = new std::map<int, cudnnHandle_t>;  // never destroyed, as the allocator
  std::lock_guard<std::mutex> lock(mutex);
  auto it = handles->find(device);
  if (it == handles->end()) {
    cudnnHandle_t h = nullptr;
    FIGS_CUDNN_CHECK(cudnnCreate(&h));
    it = handles->emplace(device, h).first;
  }
  FIGS_CUDNN_CHECK(cudnnSetStream(it->second, current_stream()));
  return it->second;
}

cudnnDataType_t cudnn_type(DType t) {
  FIGS_CHECK(t == DType::Float32 || t == DType::Float64, "conv2d (cuDNN): float32 or float64 expected, got ",
             dtype_name(t));
  return t == DType::Float32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

// A tensor cuDNN can take as it is: dense (any permutation of NCHW strides).
Tensor dense(const Tensor& t) { return is_dense(t.shape(), t.strides()) ? t : raw::contiguous(t, t.memory_format()); }
// The filter layout cuDNN gets: packed NHWC for channels-last activations, packed NCHW
// otherwise (cuDNN's kernels expect filter and activations in the same format).
MemoryFormat filter_layout_for(const Tensor& activation) {
  return channels_fastest(activation) ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
}
// w itself when it is packed in `f` (for (C_out, 1, k, k) filters both formats coincide), else a copy.
Tensor packed_filter(const Tensor& w, MemoryFormat f) { return w.is_contiguous(f) ? w : raw::contiguous(w, f); }
cudnnTensorFormat_t cudnn_format(MemoryFormat f) {
  return f == MemoryFormat::ChannelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}

enum class Pick { Unasked, Found, None };

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Pick fwd_pick = Pick::Unasked, bwd_data_pick = Pick::Unasked, bwd_filter_pick = Pick::Unasked;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t ws_fwd = 0, ws_bwd_data = 0, ws_bwd_filter = 0;
};

void describe(cudnnTensorDescriptor_t d, const Tensor& t) {
  FIGS_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(d, cudnn_type(t.dtype()), static_cast<int>(t.size(0)),
                                                static_cast<int>(t.size(1)), static_cast<int>(t.size(2)),
                                                static_cast<int>(t.size(3)), static_cast<int>(t.stride(0)),
                                                static_cast<int>(t.stride(1)), static_cast<int>(t.stride(2)),
                                                static_cast<int>(t.stride(3))));
}

std::string key_of(const Conv2dParams& p, const Tensor& x, MemoryFormat wf, const Tensor& w, const Tensor& y) {
  return str_cat(dtype_name(x.dtype()), x.device().index, x.shape(), x.strides(), w.shape(), memory_format_name(wf),
                 y.shape(), y.strides(), p.stride_h, ",", p.stride_w, ",", p.pad_h, ",", p.pad_w, ",", p.dilation_h, ",",
                 p.dilation_w, ",", p.groups, tf32() ? ",tf32" : ",fp32");
}

// The cached plan of a problem (x, w, y are the activation, filter and output as cuDNN sees them).
ConvPlan& plan_for(const Conv2dParams& p, const Tensor& x, MemoryFormat wf, const Tensor& w, const Tensor& y) {
  static std::mutex mutex;
  static std::map<std::string, ConvPlan>* plans = new std::map<std::string, ConvPlan>;  // never destroyed
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = key_of(p, x, wf, w, y);
  auto it = plans->find(key);
  if (it != plans->end()) return it->second;
  ConvPlan plan;
  FIGS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan.x));
  FIGS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan.y));
  FIGS_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan.w));
  FIGS_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan.conv));
  describe(plan.x, x);
  describe(plan.y, y);
  FIGS_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan.w, cudnn_type(w.dtype()), cudnn_format(wf),
                                              static_cast<int>(w.size(0)), static_cast<int>(w.size(1)),
                                              static_cast<int>(w.size(2)), static_cast<int>(w.size(3))));
  FIGS_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan.conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dilation_h,
                                                   p.dilation_w, CUDNN_CROSS_CORRELATION, cudnn_type(x.dtype())));
  FIGS_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan.conv, p.groups));
  FIGS_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  return plans->emplace(key, plan).first->second;
}

// The first heuristic result that ran successfully and fits the workspace limit; null if none.
template <class Perf>
const Perf* first_usable(const Perf* perf, int count) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspace) return &perf[i];
  return nullptr;
}

// The operands as cuDNN gets them. The first attempt takes activations in their own dense layout
// (copying only other views) with the filter packed to match. cuDNN 9's heuristics offer no usable
// algorithm for some of those problems (on an H200: float64 or grouped channels-last ones), so the
// second attempt gives every operand packed NCHW, the layout every algorithm family supports.
enum class Attempt { OwnLayout, PackedNchw };

Tensor input_for(const Tensor& t, Attempt a) {
  if (a == Attempt::OwnLayout) return dense(t);
  return t.is_contiguous() ? t : raw::contiguous(t, MemoryFormat::Contiguous);
}
// `out` itself when cuDNN can write it in place, else a buffer copied into `out` afterwards.
Tensor output_for(const Tensor& out, Attempt a) {
  if (a == Attempt::OwnLayout) return is_dense(out.shape(), out.strides()) ? out : empty_like(out);
  return out.is_contiguous() ? out : empty(out.shape(), {out.dtype(), out.device(), MemoryFormat::Contiguous});
}

[[noreturn]] void no_algorithm(const char* what, const Conv2dParams& p, const Tensor& x, const Tensor& w) {
  fail("conv2d (cuDNN): no usable ", what, " algorithm for x ", x.shape(), " ", dtype_name(x.dtype()), ", w ",
       w.shape(), ", stride ", p.stride_h, "x", p.stride_w, ", pad ", p.pad_h, "x", p.pad_w, ", dilation ",
       p.dilation_h, "x", p.dilation_w, ", groups ", p.groups, ", neither in the activations' layout nor packed NCHW");
}

struct Workspace {
  DeviceBuffer<unsigned char> buffer;
  Workspace(size_t n, int device) : buffer(static_cast<int64_t>(n), device) {}
  void* data() const { return n() ? buffer.data() : nullptr; }
  size_t n() const { return buffer.storage->nbytes(); }
};

struct Scalars {
  const void* one;
  const void* zero;
  explicit Scalars(DType t) : one(t == DType::Float32 ? static_cast<const void*>(&one32) : &one64),
                              zero(t == DType::Float32 ? static_cast<const void*>(&zero32) : &zero64) {}
  static constexpr float one32 = 1, zero32 = 0;
  static constexpr double one64 = 1, zero64 = 0;
};

// One attempt at each direction; false when cuDNN offers no algorithm for the operands in that layout.
bool try_forward(const Conv2dParams& p, const Tensor& x_in, const Tensor& w_in, const Tensor& bias, const Tensor& y_out,
                 Attempt a) {
  const int dev = x_in.device().index;
  const Tensor x = input_for(x_in, a);
  const MemoryFormat wf = filter_layout_for(x);
  const Tensor w = packed_filter(w_in, wf);
  const Tensor y = output_for(y_out, a);
  ConvPlan& plan = plan_for(p, x, wf, w, y);
  cudnnHandle_t h = handle_for(dev);
  if (plan.fwd_pick == Pick::Unasked) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    FIGS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x, plan.w, plan.conv, plan.y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
    const auto* best = first_usable(perf, count);
    if (best) {
      plan.fwd = best->algo;
      FIGS_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, plan.x, plan.w, plan.conv, plan.y, plan.fwd,
                                                               &plan.ws_fwd));
    }
    plan.fwd_pick = best ? Pick::Found : Pick::None;
  }
  if (plan.fwd_pick == Pick::None) return false;
  const Workspace ws(plan.ws_fwd, dev);
  const Scalars s(x.dtype());
  FIGS_CUDNN_CHECK(cudnnConvolutionForward(h, s.one, plan.x, x.raw_data(), plan.w, w.raw_data(), plan.conv, plan.fwd,
                                           ws.data(), ws.n(), s.zero, plan.y, y.raw_data()));
  if (bias.defined()) binary(BinaryOp::Add, y, channel_vector_as_4d(bias), y);
  if (y.raw_data() != y_out.raw_data()) raw::copy_(y_out, y);
  return true;
}

bool try_backward_data(const Conv2dParams& p, const Tensor& gy_in, const Tensor& w_in, const Tensor& gx_out,
                       Attempt a) {
  const int dev = gx_out.device().index;
  const Tensor gy = input_for(gy_in, a);
  const Tensor gx = output_for(gx_out, a);
  const MemoryFormat wf = filter_layout_for(gx);
  const Tensor w = packed_filter(w_in, wf);
  ConvPlan& plan = plan_for(p, gx, wf, w, gy);
  cudnnHandle_t h = handle_for(dev);
  if (plan.bwd_data_pick == Pick::Unasked) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    FIGS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w, plan.y, plan.conv, plan.x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
    const auto* best = first_usable(perf, count);
    if (best) {
      plan.bwd_data = best->algo;
      FIGS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w, plan.y, plan.conv, plan.x,
                                                                    plan.bwd_data, &plan.ws_bwd_data));
    }
    plan.bwd_data_pick = best ? Pick::Found : Pick::None;
  }
  if (plan.bwd_data_pick == Pick::None) return false;
  const Workspace ws(plan.ws_bwd_data, dev);
  const Scalars s(gx.dtype());
  FIGS_CUDNN_CHECK(cudnnConvolutionBackwardData(h, s.one, plan.w, w.raw_data(), plan.y, gy.raw_data(), plan.conv,
                                                plan.bwd_data, ws.data(), ws.n(), s.zero, plan.x, gx.raw_data()));
  if (gx.raw_data() != gx_out.raw_data()) raw::copy_(gx_out, gx);
  return true;
}

bool try_backward_weight(const Conv2dParams& p, const Tensor& gy_in, const Tensor& x_in, const Tensor& gw_out,
                         Attempt a) {
  const int dev = x_in.device().index;
  const Tensor gy = input_for(gy_in, a), x = input_for(x_in, a);
  const MemoryFormat wf = filter_layout_for(x);
  const Tensor gw = gw_out.is_contiguous(wf) ? gw_out : empty(gw_out.shape(), {gw_out.dtype(), gw_out.device(), wf});
  ConvPlan& plan = plan_for(p, x, wf, gw, gy);
  cudnnHandle_t h = handle_for(dev);
  if (plan.bwd_filter_pick == Pick::Unasked) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    FIGS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x, plan.y, plan.conv, plan.w,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
    const auto* best = first_usable(perf, count);
    if (best) {
      plan.bwd_filter = best->algo;
      FIGS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan.x, plan.y, plan.conv, plan.w,
                                                                      plan.bwd_filter, &plan.ws_bwd_filter));
    }
    plan.bwd_filter_pick = best ? Pick::Found : Pick::None;
  }
  if (plan.bwd_filter_pick == Pick::None) return false;
  const Workspace ws(plan.ws_bwd_filter, dev);
  const Scalars s(x.dtype());
  FIGS_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, s.one, plan.x, x.raw_data(), plan.y, gy.raw_data(), plan.conv,
                                                  plan.bwd_filter, ws.data(), ws.n(), s.zero, plan.w, gw.raw_data()));
  if (gw.raw_data() != gw_out.raw_data()) raw::copy_(gw_out, gw);
  return true;
}

}  // namespace

void cudnn_conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                          const Tensor& y) {
  if (y.numel() == 0) return;
  use_device_of(x);
  if (try_forward(p, x, w, bias, y, Attempt::OwnLayout)) {
    FIGS_COUNT_KERNEL("conv2d_forward", "cudnn");
    return;
  }
  if (!try_forward(p, x, w, bias, y, Attempt::PackedNchw)) no_algorithm("forward", p, x, w);
  FIGS_COUNT_KERNEL("conv2d_forward", "cudnn-packed-nchw");
}

void cudnn_conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  if (gx.numel() == 0) return;
  use_device_of(gx);
  if (try_backward_data(p, gy, w, gx, Attempt::OwnLayout)) {
    FIGS_COUNT_KERNEL("conv2d_backward_data", "cudnn");
    return;
  }
  if (!try_backward_data(p, gy, w, gx, Attempt::PackedNchw)) no_algorithm("backward-data", p, gx, w);
  FIGS_COUNT_KERNEL("conv2d_backward_data", "cudnn-packed-nchw");
}

void cudnn_conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                  const Tensor& gbias) {
  use_device_of(x);
  if (gbias.defined()) sum(dense(gy), channel_vector_as_4d(gbias));
  if (gw.numel() == 0) return;
  if (try_backward_weight(p, gy, x, gw, Attempt::OwnLayout)) {
    FIGS_COUNT_KERNEL("conv2d_backward_weight", "cudnn");
    return;
  }
  if (!try_backward_weight(p, gy, x, gw, Attempt::PackedNchw)) no_algorithm("backward-filter", p, x, gw);
  FIGS_COUNT_KERNEL("conv2d_backward_weight", "cudnn-packed-nchw");
}

#else  // built without cuDNN

namespace {
[[noreturn]] void no_cudnn(const char* kernel) {
  fail(kernel, ": the cuda backend runs dense and grouped convolutions on cuDNN, which this build did not find "
               "(install cuDNN under the CUDA toolkit and reconfigure); depthwise convolutions work without it");
}
}  // namespace

void cudnn_conv2d_forward(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cudnn("conv2d_forward");
}
void cudnn_conv2d_backward_data(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor&) {
  no_cudnn("conv2d_backward_data");
}
void cudnn_conv2d_backward_weight(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cudnn("conv2d_backward_weight");
}

#endif

}  // namespace figs::cuda::kernels
