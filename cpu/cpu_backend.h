// The CPU device's backend: oneDNN for convolutions, matmul, average pooling and batch norm;
// own AVX2 kernels (cpu/fast/) for elementwise ops, reductions, fills, copies and max pooling;
// the reference kernels (cpu/reference/) for everything else and for float64.
//
// The choice is explicit and recorded: every kernel call is counted per implementation
// (core/kernel_stats.h), and the whole backend can be forced onto the reference kernels for
// debugging with set_kernel_mode(KernelMode::Reference) or FIGS_CPU_KERNELS=reference in the
// environment. Layouts the fast kernels do not cover run on the reference kernels and are
// counted as such — visible in every benchmark's output, never silent.
#pragma once

#include "cpu/fast/vector_isa.h"
#include "cpu/reference_backend.h"

namespace figs::cpu {

enum class KernelMode { Fast, Reference };

KernelMode kernel_mode();
void set_kernel_mode(KernelMode mode);
const char* kernel_mode_name(KernelMode mode);

// The widest vector instruction set the own kernels use (cpu/fast/kernels.h): AVX-512 where the
// CPU has AVX-512F (the kernels with an AVX-512 build use it), else AVX2, and None on a CPU
// without AVX2 and FMA, where no own kernel runs (the reference kernels and oneDNN do).
// FIGS_CPU_ISA=avx2 in the environment (or set_vector_isa) caps it, to compare the two builds or
// rule AVX-512 out; FIGS_CPU_ISA=none (set_vector_isa(None)) turns the own kernels off and keeps
// oneDNN. Naming a width the CPU lacks is an error, in FIGS_CPU_ISA as in set_vector_isa. The
// variable is read at the first CPU op, so a bad value fails there (the figs command checks it
// before it starts).
fast::VectorIsa vector_isa();
void set_vector_isa(fast::VectorIsa isa);
const char* vector_isa_name(fast::VectorIsa isa);

class CpuBackend final : public ReferenceBackend {
 public:
  const char* name() const override { return "cpu"; }

  void copy(const Tensor& src, const Tensor& dst) override;
  void concat(const std::vector<Tensor>& xs, int dim, const Tensor& y) override;
  void fill(const Tensor& out, double value) override;
  void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) override;
  void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy,
                      const Tensor& gx) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void sum(const Tensor& x, const Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out) override;

  void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Tensor& y) override;
  void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) override;
  void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                              const Tensor& gbias) override;

  void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices) override;
  void max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices, const Tensor& gx) override;
  void max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x,
                                      const Tensor& gx) override;
  void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) override;
  void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) override;

  void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                   const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                   const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) override;
  void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                    const Tensor& y) override;
  void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gx, const Tensor& ggamma,
                           const Tensor& gbeta) override;
  void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                              const Tensor& gscale) override;
  // log_softmax and cross_entropy keep the reference kernels: they run on (N, K) logits with
  // K = 10..1000, a few microseconds per step next to milliseconds of convolution.
};

// The registered CPU backend.
CpuBackend& cpu_backend();

}  // namespace figs::cpu
