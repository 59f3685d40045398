// The differentiable ops. Each is defined in one place, autograd/ops/<family>.cpp: its shape
// checks, its forward (a backend kernel call) and its backward, side by side. docs/architecture.md
// lists where each op's kernels, tests and benchmarks live.
//
// Every op checks its inputs (shapes, dtypes, devices) and throws figs::Error naming itself and
// the offending shapes. Outputs of image ops keep the input's memory format (channels-last in,
// channels-last out).
#pragma once

#include <vector>

#include "core/params.h"
#include "core/tensor.h"

namespace figs {

// --- elementwise (ops/elementwise.cpp); binary ops broadcast numpy-style --------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);
Tensor add_scalar(const Tensor& x, double value);
Tensor mul_scalar(const Tensor& x, double value);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& x, double v) { return add_scalar(x, v); }
inline Tensor operator+(double v, const Tensor& x) { return add_scalar(x, v); }
inline Tensor operator-(const Tensor& x, double v) { return add_scalar(x, -v); }
inline Tensor operator-(double v, const Tensor& x) { return add_scalar(neg(x), v); }
inline Tensor operator*(const Tensor& x, double v) { return mul_scalar(x, v); }
inline Tensor operator*(double v, const Tensor& x) { return mul_scalar(x, v); }
inline Tensor operator/(const Tensor& x, double v) { return mul_scalar(x, 1.0 / v); }

// --- reductions (ops/reduce.cpp) -------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> 0-d tensor
Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
// Sums a broadcast result back to `shape` (the gradient of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// --- linear algebra (ops/linear.cpp) ---------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);  // (M, K) @ (K, N)
// x (N, in), weight (out, in), bias (out) or undefined -> x @ weight^T + bias.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// --- convolution (ops/conv.cpp) --------------------------------------------------------------
// x (N, C_in, H, W), weight (C_out, C_in / groups, KH, KW), bias (C_out) or undefined.
// groups = 1 dense, groups = C_in = C_out depthwise, 1x1 kernels pointwise.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dParams& params = {});

// --- pooling (ops/pool.cpp) ------------------------------------------------------------------
Tensor max_pool2d(const Tensor& x, const Pool2dParams& params);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& params);
Tensor global_avg_pool2d(const Tensor& x);  // (N, C, H, W) -> (N, C, 1, 1)

// --- batch normalisation (ops/batch_norm.cpp) -------------------------------------------------
// x (N, C, H, W); gamma, beta, running_mean, running_var (C) or undefined. In training the
// running statistics (if given) are updated in place; in eval they are required. params.relu
// fuses a ReLU after the affine (one op, one pass over the activations each way).
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormParams& params);

// --- sparse (ops/sparse.cpp) ------------------------------------------------------------------
struct SparseEntry {
  int64_t row = 0, col = 0;
  double value = 0;
};
// A constant sparse matrix in CSR form with its transpose (the backward's), on one device.
struct SparseMatrix {
  int64_t rows = 0, cols = 0;
  Tensor row_ptr, col, val;        // A: int64 (rows + 1), int64 (nnz), dtype (nnz)
  Tensor t_row_ptr, t_col, t_val;  // A^T
  // From (row, col, value) entries (repeated positions add up), in `dtype` on `device`.
  static SparseMatrix from_entries(int64_t rows, int64_t cols, const std::vector<SparseEntry>& entries,
                                   DType dtype = DType::Float32, Device device = Device::cpu());
};
// y (rows) = A x for x (cols); the gradient is A^T dy. Deterministic on every backend.
Tensor sparse_matvec(const SparseMatrix& a, const Tensor& x);
// x in another floating dtype; the gradient converts back.
Tensor cast(const Tensor& x, DType dtype);

// --- collectives (ops/distributed.cpp; core/distributed.h) -------------------------------------
// The elementwise sum of x over the ranks of dist::world(); its backward is the same all-reduce.
Tensor all_reduce_sum(const Tensor& x);
// Training-mode batch_norm with statistics over every rank's batch (synchronised BatchNorm):
// the same arithmetic as batch_norm on the concatenated batch, composed of differentiable ops.
Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                       const Tensor& running_var, const BatchNormParams& params);

// --- the FiGS mask's values (ops/mask.cpp) ---------------------------------------------------
// m (C) for p.mode from logits (C) on their device (core/params.h, MaskParams); training modes
// draw the noise of p's key, or use `noise` (C) when it is defined, and are differentiable in
// the logits. nas/mask.h has the formulas and the noise key.
Tensor mask_values(const Tensor& logits, const MaskParams& p, const Tensor& noise = Tensor());
// The FiGS mask layer's op: y = x * m[c] for x (N, C, H, W), m = mask_values(logits, p, noise),
// as one op (one autograd node; one pass over x forward, one fused pass backward giving dx and
// d logits). Differentiable in x, and in the logits for the training modes. `values` (optional)
// receives m, detached (what MaskLayer::last_mask() shows).
Tensor mask(const Tensor& x, const Tensor& logits, const MaskParams& p, const Tensor& noise = Tensor(),
            Tensor* values = nullptr);

// --- per-channel scale (ops/channel_scale.cpp) ----------------------------------------------
// x (N, C, H, W) times scale (C) per channel, with a fused single-pass backward (the multiply of
// channel_scale(x, mask_values(...)), which mask() computes as one op).
Tensor channel_scale(const Tensor& x, const Tensor& scale);

// --- layout (ops/shape_ops.cpp): views where possible, differentiable -------------------------
Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape);  // one -1 allowed
Tensor flatten(const Tensor& x, int start_dim = 1);  // dims start_dim.. merged into one
Tensor permute(const Tensor& x, const std::vector<int>& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
inline Tensor channel_slice(const Tensor& x, int64_t start, int64_t length) {
  return narrow(x, 1, start, length);
}
Tensor expand(const Tensor& x, const Shape& shape);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim = 1);
Tensor contiguous(const Tensor& x, MemoryFormat format = MemoryFormat::Contiguous);

// --- classification (ops/loss.cpp) -----------------------------------------------------------
Tensor log_softmax(const Tensor& x);  // over dim 1 of (N, K)
// Mean over the batch of the cross-entropy of logits (N, K) against int64 labels (N), with
// optional label smoothing in [0, 1). Fused and numerically stable.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0);

}  // namespace figs
