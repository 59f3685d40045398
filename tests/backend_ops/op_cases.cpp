// The case table: per op family, named cases over the shapes that break kernels — odd H/W (7, 9,
// 13), channel counts that are not multiples of 8 (5, 13, 19, 37: vector loop plus tail), N = 1,
// strides 1 and 2, kernels 1/3/5/7, groups 1 / C (depthwise) / in between, NCHW and
// channels-last — and, per family, the float32 tolerances and the fast CPU kernels each case
// must reach (op_cases.h).
//
// Tolerances are bounds on the normalised error max |got - ref| / max(max |ref|, 1) of a float32
// target against the float64 reference on the same (float32-exact) inputs. Inputs are O(1), so a
// wrong index, a missing term or a wrong constant shows as an error of order 1e-2 to 1; float32
// rounding shows as a few 2^-24 ~ 6e-8 per operation, or about L * 2^-24 for a reduction of
// length L. Each family's bound is stated with its L below.
#include "op_cases.h"

#include <cstdlib>

#include "core/distributed.h"

namespace figs::backend_ops {
namespace {

constexpr MemoryFormat kNchw = MemoryFormat::Contiguous;
constexpr MemoryFormat kCl = MemoryFormat::ChannelsLast;
constexpr FastKernel::Engine kAvx2 = FastKernel::Avx2;
constexpr FastKernel::Engine kOneDnn = FastKernel::OneDnn;

// --- tolerances -------------------------------------------------------------------------------
// Copies and views move float32 numbers unchanged: exact, both ways.
constexpr Tolerance kExact{0, 0};
// Sums of L <= 6253 terms (37 * 13 * 13) of numbers in [-1, 1]: float32 accumulation errs by
// about sqrt(L) * 2^-24 * max |partial sum| (L * 2^-24 ~ 4e-4 at worst, never approached by the
// blocked and pairwise kernels: measured <= 1e-6). One term dropped or counted twice errs by
// ~1e-2.
constexpr Tolerance kReduction{1e-5, 1e-5};
// Means of L numbers in [-1, 1] are at most 1 in size and err by a few 2^-24 (measured <= 2e-8);
// their gradient is gy / L.
constexpr Tolerance kMean{1e-6, 1e-6};
// Views forward; the backward of a broadcast is a reduction over it.
constexpr Tolerance kViewThenSum{0, kReduction.gradient};
// One rounding per element (the own kernels' exp/log/sigmoid are accurate to a few ulp:
// measured <= 1e-7).
constexpr Tolerance kElementwise{1e-6, 1e-6};
// Elementwise forward; the backward of the broadcast operand is a reduction.
constexpr Tolerance kBroadcast{kElementwise.output, kReduction.gradient};
// Dot products of length L <= 37 * 5 * 5 = 925 (forward, backward-data) and L <= N * OH * OW
// <= 338 (backward-weights) in oneDNN's blocked accumulation orders (measured <= 6e-7).
constexpr Tolerance kConvolution{1e-5, 1e-5};
// Max pooling selects (exact forward); its backward adds overlapping windows' gradients (<= 9).
constexpr Tolerance kMaxPool{0, 1e-6};
// Window means of <= 9 elements.
constexpr Tolerance kAvgPool{1e-6, 1e-6};
// Batch statistics over N * H * W <= 169 values, then a normalisation by 1 / sqrt(var + eps);
// the gradients are reductions of the same length (measured <= 5e-7).
constexpr Tolerance kBatchNorm{1e-5, 1e-5};
// log-sum-exp over K <= 1001 classes.
constexpr Tolerance kSoftmax{1e-6, 1e-6};
// The mask's math is float64 on every backend; only the final rounding to float32 differs.
constexpr Tolerance kMask{1e-7, 1e-7};
// Row sums of a sparse matrix with up to ~60 entries per row (and column sums, backward).
constexpr Tolerance kSparse{1e-6, 1e-6};

// --- shapes -----------------------------------------------------------------------------------
struct Image {
  int64_t n, c, h, w;
  Shape shape() const { return {n, c, h, w}; }
};

// "n2_c13_7x9_cl": batch (when > 1), channels, height x width, layout.
std::string image_name(const Image& x, MemoryFormat f) {
  std::string s = x.n > 1 ? str_cat("n", x.n, "_") : std::string();
  s += str_cat("c", x.c, "_", x.h, "x", x.w);
  return f == kCl ? s + "_cl" : s;
}

using Build = std::function<CaseOutputs(CaseInputs&)>;

// The cases of one scale. Benchmarks grow images by 16x in batch and 2x in height and width, and
// matrices and vectors by 8x (names say the grown sizes).
class Table {
 public:
  explicit Table(CaseScale scale) : bench_(scale == CaseScale::Bench) {}

  Image image(Image x) const { return bench_ ? Image{x.n * 16, x.c, x.h * 2, x.w * 2} : x; }
  int64_t batch(int64_t n) const { return bench_ ? n * 16 : n; }
  int64_t dim(int64_t d) const { return bench_ ? d * 8 : d; }

  void add(const char* op, std::string name, MemoryFormat format, Tolerance tolerance,
           std::vector<FastKernel> fast_kernels, Build build) {
    cases.push_back({op, std::move(name), format, tolerance, std::move(fast_kernels), std::move(build)});
  }

  std::vector<OpCase> cases;

 private:
  bool bench_;
};

// The image shapes most families run on: one image with C = 37 (past an AVX2 register's 8 floats
// four times, plus a tail of 5) at an odd 13x13 in NCHW, and a batch of two with C = 13 at 7x9
// (H != W) in channels-last.
struct ImageCase {
  Image x;
  MemoryFormat format;
};
std::vector<ImageCase> common_images(const Table& t) {
  return {{t.image({1, 37, 13, 13}), kNchw}, {t.image({2, 13, 7, 9}), kCl}};
}

// --- elementwise ------------------------------------------------------------------------------
void unary_cases(Table& t) {
  struct Unary {
    const char* op;
    const char* variant;  // name prefix where an op has several
    double low, high;     // the input's range: the op's domain, both sides of its kinks
    Tensor (*f)(const Tensor&);
  };
  const Unary unaries[] = {
      {"neg", "", -1, 1, [](const Tensor& x) { return neg(x); }},
      {"exp", "", -4, 4, [](const Tensor& x) { return exp(x); }},
      {"log", "", 0.1, 4, [](const Tensor& x) { return log(x); }},
      {"sqrt", "", 0.1, 4, [](const Tensor& x) { return sqrt(x); }},
      {"pow", "e1p5_", 0.1, 4, [](const Tensor& x) { return pow(x, 1.5); }},
      {"pow", "e3_", -2, 2, [](const Tensor& x) { return pow(x, 3.0); }},  // negative bases
      {"pow", "em0p5_", 0.5, 4, [](const Tensor& x) { return pow(x, -0.5); }},
      {"sigmoid", "", -6, 6, [](const Tensor& x) { return sigmoid(x); }},
      {"relu", "", -1, 1, [](const Tensor& x) { return relu(x); }},
      {"relu6", "", -3, 9, [](const Tensor& x) { return relu6(x); }},
      {"add_scalar", "", -1, 1, [](const Tensor& x) { return add_scalar(x, 0.25); }},
      {"mul_scalar", "", -1, 1, [](const Tensor& x) { return mul_scalar(x, -3.0); }},
  };
  const std::vector<FastKernel> fast{{"unary", kAvx2}, {"unary_backward", kAvx2}};
  for (const Unary& u : unaries) {
    const InputSpec range{.low = u.low, .high = u.high};
    for (const ImageCase& ic : common_images(t))
      t.add(u.op, u.variant + image_name(ic.x, ic.format), ic.format, kElementwise, fast,
            [u, range, s = ic.x.shape()](CaseInputs& in) { return CaseOutputs{u.f(in.input("x", s, range))}; });
    // A matrix, and one smaller than an AVX2 register (the tail alone).
    for (const Shape& rows : {Shape{t.dim(5), t.dim(19)}, Shape{t.dim(1), t.dim(3)}})
      t.add(u.op, str_cat(u.variant, "rows_", rows[0], "x", rows[1]), kNchw, kElementwise, fast,
            [u, range, rows](CaseInputs& in) { return CaseOutputs{u.f(in.input("x", rows, range))}; });
  }
}

void binary_cases(Table& t) {
  struct Binary {
    const char* op;
    Tensor (*f)(const Tensor&, const Tensor&);
  };
  const Binary binaries[] = {{"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
                             {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
                             {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
                             {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }}};
  struct Operands {
    std::string name;
    Shape a, b;
    MemoryFormat format;
    Tolerance tolerance;
    std::vector<FastKernel> fast;
  };
  const Image big = t.image({1, 37, 13, 13}), batch = t.image({2, 13, 7, 9});
  const FastKernel binary{"binary", kAvx2}, sum{"sum", kAvx2};
  const std::vector<Operands> operands = {
      {"same_" + image_name(big, kNchw), big.shape(), big.shape(), kNchw, kElementwise, {binary}},
      {"same_" + image_name(batch, kCl), batch.shape(), batch.shape(), kCl, kElementwise, {binary}},
      // A per-channel operand (bias, scale) on either side: its gradient is a per-channel sum.
      {"per_channel_" + image_name(batch, kCl), batch.shape(), {1, batch.c, 1, 1}, kCl, kBroadcast, {binary, sum}},
      {"per_channel_lhs_" + image_name(big, kNchw), {1, big.c, 1, 1}, big.shape(), kNchw, kBroadcast, {binary, sum}},
      {"scalar_" + image_name(big, kNchw), big.shape(), {}, kNchw, kBroadcast, {binary, sum}},
      // A general broadcast (N, 1, H, 1): the reference kernels serve it on every CPU path.
      {"rows_cols_" + image_name(batch, kNchw), batch.shape(), {batch.n, 1, batch.h, 1}, kNchw, kBroadcast, {}},
  };
  for (const Binary& op : binaries)
    for (const Operands& o : operands)
      t.add(op.op, o.name, o.format, o.tolerance, o.fast, [op, o](CaseInputs& in) {
        const Tensor a = in.input("a", o.a);
        const Tensor b = in.input("b", o.b, {.low = 0.5, .high = 2});  // away from 0: div is defined
        return CaseOutputs{op.f(a, b)};
      });
}

// --- reductions -------------------------------------------------------------------------------
void reduction_cases(Table& t) {
  const FastKernel sum_kernel{"sum", kAvx2};
  for (const ImageCase& ic : common_images(t)) {
    const Shape s = ic.x.shape();
    const std::string shape = image_name(ic.x, ic.format);
    t.add("sum", "all_" + shape, ic.format, kReduction, {sum_kernel},
          [s](CaseInputs& in) { return CaseOutputs{sum(in.input("x", s))}; });
    t.add("sum", "channels_keepdim_" + shape, ic.format, kReduction, {sum_kernel},
          [s](CaseInputs& in) { return CaseOutputs{sum(in.input("x", s), {0, 2, 3}, true)}; });
    // Over channels alone: not a kind the own sum kernel takes (the reference kernel runs).
    t.add("sum", "dim1_" + shape, ic.format, kReduction, {},
          [s](CaseInputs& in) { return CaseOutputs{sum(in.input("x", s), {1})}; });
    t.add("mean", "all_" + shape, ic.format, kMean, {sum_kernel},
          [s](CaseInputs& in) { return CaseOutputs{mean(in.input("x", s))}; });
    // Over H and W: the own sum kernel takes it only where N = 1 makes it its per-channel kind.
    t.add("mean", "spatial_" + shape, ic.format, kMean,
          ic.x.n == 1 ? std::vector<FastKernel>{sum_kernel} : std::vector<FastKernel>{},
          [s](CaseInputs& in) { return CaseOutputs{mean(in.input("x", s), {-1, 2})}; });
  }
  // Columns of a tall matrix: the rows kind of the own sum kernel.
  const Shape tall{t.dim(300), 40};
  t.add("sum", str_cat("rows_", tall[0], "x", tall[1]), kNchw, kReduction, {sum_kernel},
        [tall](CaseInputs& in) { return CaseOutputs{sum(in.input("x", tall), {0})}; });
}

// --- linear algebra ---------------------------------------------------------------------------
void linear_cases(Table& t) {
  const FastKernel matmul_kernel{"matmul", kOneDnn};
  struct Product {
    int64_t m, k, n;
    bool transposed_a, transposed_b;  // read through a permute view, as linear's backward does
  };
  const Product products[] = {{7, 13, 5, false, false}, {1, 33, 19, false, false},
                              {17, 9, 11, true, false}, {6, 31, 8, false, true}};
  for (const Product& p0 : products) {
    const Product p{t.dim(p0.m), t.dim(p0.k), t.dim(p0.n), p0.transposed_a, p0.transposed_b};
    const std::string name = str_cat(p.transposed_a ? "ta_" : "", p.transposed_b ? "tb_" : "", "m", p.m, "_k",
                                     p.k, "_n", p.n);
    t.add("matmul", name, kNchw, kConvolution, {matmul_kernel}, [p](CaseInputs& in) {
      const Tensor a = p.transposed_a ? permute(in.input("a_t", {p.k, p.m}), {1, 0}) : in.input("a", {p.m, p.k});
      const Tensor b = p.transposed_b ? permute(in.input("b_t", {p.n, p.k}), {1, 0}) : in.input("b", {p.k, p.n});
      return CaseOutputs{matmul(a, b)};
    });
  }
  // The bias add (N, out) + (out) is a broadcast the own binary kernel does not take: it runs on
  // the reference kernels, so only the products are asserted fast.
  for (const auto& [n0, bias] : {std::pair{1, true}, {5, true}, {5, false}}) {
    const int64_t n = t.batch(n0), in_features = t.dim(37), out_features = t.dim(13);
    t.add("linear", str_cat("n", n, "_in", in_features, "_out", out_features, bias ? "_bias" : ""), kNchw,
          kConvolution, {matmul_kernel}, [n, in_features, out_features, bias](CaseInputs& in) {
            const Tensor x = in.input("x", {n, in_features});
            const Tensor w = in.input("weight", {out_features, in_features});
            return CaseOutputs{linear(x, w, bias ? in.input("bias", {out_features}) : Tensor())};
          });
  }
}

// --- convolution ------------------------------------------------------------------------------
struct ConvSpec {
  const char* kind;  // dense, pw (pointwise), dw (depthwise), grouped
  Image x;
  int64_t c_out, k;
  int stride, dilation, groups;
  bool bias;
  MemoryFormat format;
  bool valid = false;  // no padding; else "same" padding dilation * (k / 2)
};

std::string conv_name(const ConvSpec& c) {
  std::string s = str_cat(c.kind, "_k", c.k, "_s", c.stride);
  if (c.dilation != 1) s += str_cat("_d", c.dilation);
  if (c.valid) s += "_valid";
  if (c.groups != 1 && c.groups != c.x.c) s += str_cat("_g", c.groups);
  s += str_cat("_c", c.x.c);
  if (c.c_out != c.x.c) s += str_cat("to", c.c_out);
  s += str_cat("_", c.x.h, "x", c.x.w);
  if (c.x.n > 1) s += str_cat("_n", c.x.n);
  if (c.bias) s += "_bias";
  return c.format == kCl ? s + "_cl" : s;
}

void conv_cases(Table& t) {
  const ConvSpec specs[] = {
      // dense: a stem (3 input channels), strided, k5, without padding
      {"dense", {1, 3, 13, 13}, 8, 3, 1, 1, 1, true, kNchw},
      {"dense", {1, 3, 13, 13}, 8, 3, 1, 1, 1, true, kCl},
      {"dense", {2, 13, 7, 9}, 19, 3, 2, 1, 1, false, kCl},
      {"dense", {1, 5, 13, 13}, 6, 5, 2, 1, 1, false, kNchw},
      {"dense", {1, 5, 13, 13}, 4, 3, 1, 1, 1, true, kNchw, true},
      // pointwise: both layouts; strided 1x1 with few input channels (oneDNN's jit 1x1
      // backward-weights workaround, cpu/onednn/conv2d.cpp)
      {"pw", {2, 37, 7, 7}, 19, 1, 1, 1, 1, false, kNchw},
      {"pw", {2, 37, 7, 7}, 19, 1, 1, 1, 1, true, kCl},
      {"pw", {1, 7, 13, 13}, 16, 1, 2, 1, 1, false, kCl},
      // depthwise: k3/5/7, stride 1/2, dilation 2, both layouts; channels-last k >= 5 takes the
      // own backward-weights kernel
      {"dw", {1, 37, 13, 13}, 37, 3, 1, 1, 37, false, kNchw},
      {"dw", {1, 37, 13, 13}, 37, 3, 2, 1, 37, false, kCl},
      {"dw", {2, 19, 7, 7}, 19, 5, 1, 1, 19, true, kCl},
      {"dw", {1, 13, 13, 13}, 13, 5, 2, 1, 13, false, kNchw},
      {"dw", {1, 13, 13, 13}, 13, 7, 1, 1, 13, false, kCl},
      {"dw", {1, 13, 9, 9}, 13, 3, 1, 2, 13, true, kCl},
      // grouped, between dense and depthwise
      {"grouped", {1, 12, 13, 13}, 8, 3, 2, 1, 4, false, kCl},
      {"grouped", {2, 6, 7, 9}, 10, 3, 1, 1, 2, true, kNchw},
  };
  for (const ConvSpec& spec : specs) {
    ConvSpec c = spec;
    c.x = t.image(spec.x);
    Conv2dParams p;
    p.stride_h = p.stride_w = c.stride;
    p.dilation_h = p.dilation_w = c.dilation;
    p.pad_h = p.pad_w = c.valid ? 0 : c.dilation * static_cast<int>(c.k / 2);
    p.groups = c.groups;
    const bool own_weight_kernel = c.groups == c.x.c && c.c_out == c.x.c && c.format == kCl && c.k >= 5;
    const std::vector<FastKernel> fast{{"conv2d_forward", kOneDnn},
                                       {"conv2d_backward_data", kOneDnn},
                                       {"conv2d_backward_weight", own_weight_kernel ? kAvx2 : kOneDnn}};
    t.add("conv2d", conv_name(c), c.format, kConvolution, fast, [c, p](CaseInputs& in) {
      const Tensor x = in.input("x", c.x.shape());
      const Tensor w = in.input("weight", {c.c_out, c.x.c / c.groups, c.k, c.k});
      return CaseOutputs{conv2d(x, w, c.bias ? in.input("bias", {c.c_out}) : Tensor(), p)};
    });
  }
}

// --- pooling ----------------------------------------------------------------------------------
std::string pool_name(const Pool2dParams& p, bool average) {
  std::string s = str_cat("k", p.kernel_h, "_s", p.stride_h);
  if (p.pad_h) s += str_cat("_p", p.pad_h);
  if (average && !p.count_include_pad) s += "_exclpad";
  return s + "_";
}

void pool_cases(Table& t) {
  struct PoolSpec {
    Pool2dParams p;
    Image x;
    MemoryFormat format;
    bool ties;  // ReLU'd inputs: windows full of equal zeros (the first one wins, everywhere)
  };
  const PoolSpec max_specs[] = {
      {{2, 2, 2, 2, 0, 0, true}, {1, 37, 13, 13}, kNchw, false},
      {{3, 3, 2, 2, 1, 1, true}, {2, 13, 7, 9}, kCl, false},
      {{3, 3, 1, 1, 1, 1, true}, {1, 19, 7, 7}, kNchw, true},
      {{3, 3, 2, 2, 1, 1, true}, {1, 37, 13, 13}, kCl, true},
      {{3, 3, 1, 1, 1, 1, true}, {2, 37, 9, 11}, kCl, true},  // One-Shot's max3: the vector blends, with ties
  };
  for (const PoolSpec& spec : max_specs) {
    const Image x = t.image(spec.x);
    const Pool2dParams p = spec.p;
    const InputSpec values{.zero_negatives = spec.ties};
    // Stride 1 keeps the input and finds the argmax again (Note [Max pool keeps its input or its
    // argmax]): its backward is max_pool2d_backward_from_input.
    const char* backward = p.stride_h == 1 && p.stride_w == 1 ? "max_pool2d_backward_from_input" : "max_pool2d_backward";
    t.add("max_pool2d", pool_name(p, false) + image_name(x, spec.format) + (spec.ties ? "_ties" : ""), spec.format,
          kMaxPool, {{"max_pool2d_forward", kAvx2}, {backward, kAvx2}}, [x, p, values](CaseInputs& in) {
            return CaseOutputs{max_pool2d(in.input("x", x.shape(), values), p)};
          });
  }
  const PoolSpec avg_specs[] = {
      {{3, 3, 1, 1, 1, 1, true}, {1, 37, 13, 13}, kNchw, false},
      {{3, 3, 2, 2, 1, 1, false}, {2, 13, 7, 9}, kCl, false},
      {{3, 3, 2, 2, 1, 1, false}, {1, 19, 13, 13}, kNchw, false},
      {{2, 2, 2, 2, 0, 0, true}, {1, 19, 13, 13}, kCl, false},
  };
  for (const PoolSpec& spec : avg_specs) {
    const Image x = t.image(spec.x);
    const Pool2dParams p = spec.p;
    // The own kernels on channels-last, oneDNN on NCHW (cpu_backend.cpp).
    const FastKernel::Engine engine = spec.format == kCl ? kAvx2 : kOneDnn;
    t.add("avg_pool2d", pool_name(p, true) + image_name(x, spec.format), spec.format, kAvgPool,
          {{"avg_pool2d_forward", engine}, {"avg_pool2d_backward", engine}},
          [x, p](CaseInputs& in) { return CaseOutputs{avg_pool2d(in.input("x", x.shape()), p)}; });
  }
  // A mean over H and W to (N, C, 1, 1): the own sum kernel takes it only where N = 1 makes it
  // its per-channel kind; with a batch, in either layout, the reference sum kernel runs.
  std::vector<ImageCase> pooled = common_images(t);
  pooled.push_back({t.image({2, 13, 7, 9}), kNchw});
  for (const ImageCase& ic : pooled)
    t.add("global_avg_pool2d", image_name(ic.x, ic.format), ic.format, kMean,
          ic.x.n == 1 ? std::vector<FastKernel>{{"sum", kAvx2}} : std::vector<FastKernel>{},
          [s = ic.x.shape()](CaseInputs& in) { return CaseOutputs{global_avg_pool2d(in.input("x", s))}; });
}

// --- normalisation ----------------------------------------------------------------------------
struct NormSpec {
  const char* mode;  // train, train_noaffine, eval
  Image x;
  MemoryFormat format;
  bool relu = false;  // batch_norm's fused ReLU
};

// batch_norm or sync_batch_norm on one case's inputs; training updates the running statistics,
// which are compared too.
CaseOutputs normalise(CaseInputs& in, const NormSpec& spec, bool synchronised) {
  const bool train = spec.mode[0] == 't', affine = std::string(spec.mode) != "train_noaffine";
  const int64_t C = spec.x.c;
  const Tensor x = in.input("x", spec.x.shape(), {.low = -2, .high = 3});
  const Tensor gamma = affine ? in.input("gamma", {C}, {.low = 0.5, .high = 1.5}) : Tensor();
  const Tensor beta = affine ? in.input("beta", {C}) : Tensor();
  const Tensor running_mean = in.input("running_mean", {C}, {.low = -0.5, .high = 0.5, .differentiable = false});
  const Tensor running_var = in.input("running_var", {C}, {.low = 0.5, .high = 2, .differentiable = false});
  const BatchNormParams p{train, 0.1, 1e-5, spec.relu};
  CaseOutputs out{synchronised ? sync_batch_norm(x, gamma, beta, running_mean, running_var, p)
                               : batch_norm(x, gamma, beta, running_mean, running_var, p)};
  if (train) out.extras = {{"running_mean", running_mean}, {"running_var", running_var}};
  return out;
}

void batch_norm_cases(Table& t) {
  const NormSpec specs[] = {
      {"train", {1, 37, 13, 13}, kCl},         // C % 16 != 0, channels-last: the own kernels
      {"train", {2, 16, 7, 9}, kCl},           // C % 16 == 0: oneDNN
      {"train", {2, 13, 7, 9}, kNchw},         // NCHW: oneDNN
      {"train_noaffine", {3, 5, 7, 7}, kCl},
      {"eval", {1, 37, 13, 13}, kCl},
      {"eval", {2, 13, 7, 9}, kNchw},
      {"train", {2, 21, 9, 7}, kCl, true},     // the fused ReLU: own kernels ...
      {"train", {2, 13, 7, 9}, kNchw, true},   // ... and composed around oneDNN's
      {"train_noaffine", {3, 16, 5, 5}, kCl, true},
      {"eval", {1, 37, 13, 13}, kCl, true},
      {"eval", {2, 13, 7, 9}, kNchw, true},
  };
  for (const NormSpec& s0 : specs) {
    NormSpec s = s0;
    s.x = t.image(s0.x);
    const bool train = s.mode[0] == 't';
    const FastKernel::Engine engine = s.format == kCl && (s.relu || s.x.c % 16 != 0) ? kAvx2 : kOneDnn;
    const std::vector<FastKernel> fast{{train ? "batch_norm_forward_training" : "batch_norm_forward_inference", engine},
                                       {"batch_norm_backward", engine}};
    t.add("batch_norm", str_cat(s.mode, s.relu ? "_relu_" : "_", image_name(s.x, s.format)), s.format, kBatchNorm, fast,
          [s](CaseInputs& in) { return normalise(in, s, false); });
  }
}

// --- the FiGS mask ----------------------------------------------------------------------------
// Every mode of the mask, and the relaxed one with noise given instead of drawn: the variants of
// both mask ops (mask_values, mask).
struct MaskSpec {
  const char* name;
  MaskMode mode;
  bool given_noise;
  bool training() const { return mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough; }
};
constexpr MaskSpec kMaskSpecs[] = {{"relaxed", MaskMode::Relaxed, false},
                                   {"relaxed_given_noise", MaskMode::Relaxed, true},
                                   {"straight_through", MaskMode::StraightThrough, false},
                                   {"eval_hard", MaskMode::EvalHard, false},
                                   {"eval_scaled", MaskMode::EvalScaled, false}};

void mask_cases(Table& t) {
  const int64_t C = t.dim(37);
  for (const MaskSpec& spec : kMaskSpecs) {
    const bool training = spec.training();
    // tau 0.5 keeps sigmoid'(a) / tau away from 0 and infinity (the default 1e-3 saturates).
    const MaskParams p{spec.mode, 0.5, 11, 3, 100};
    t.add("mask_values", str_cat(spec.name, "_tau0p5_c", C), kNchw, kMask, {}, [=](CaseInputs& in) {
      const Tensor logits = in.input("logits", {C}, {.low = -2, .high = 2, .differentiable = training});
      const Tensor noise = spec.given_noise ? in.input("noise", {C}, {.low = -3, .high = 3, .differentiable = false})
                                            : Tensor();
      return CaseOutputs{mask_values(logits, p, noise)};
    });
  }
}

void channel_scale_cases(Table& t) {
  const std::vector<FastKernel> fast{{"binary", kAvx2}, {"channel_scale_backward", kAvx2}};
  for (const ImageCase& ic : common_images(t))
    t.add("channel_scale", image_name(ic.x, ic.format), ic.format, kBroadcast, fast,
          [x = ic.x](CaseInputs& in) {
            const Tensor a = in.input("x", x.shape());
            return CaseOutputs{channel_scale(a, in.input("scale", {x.c}))};
          });
  // Only the scale requires grad (the mask logits' path): the x gradient is skipped.
  const Image x = t.image({2, 13, 7, 9});
  t.add("channel_scale", "scale_only_" + image_name(x, kNchw), kNchw, kBroadcast, fast, [x](CaseInputs& in) {
    const Tensor a = in.input("x", x.shape(), {.differentiable = false});
    return CaseOutputs{channel_scale(a, in.input("scale", {x.c}))};
  });
}

// The mask layer's op: mask_values and the multiply in one op. Every mode on the odd NCHW image,
// the relaxed mode also channels-last with a batch. The logits' gradient is a reduction over
// N * H * W <= 169 values times sigmoid'(a) / tau; the input's is elementwise.
void mask_op_cases(Table& t) {
  const std::vector<FastKernel> fast{{"binary", kAvx2}, {"channel_scale_backward", kAvx2}};
  for (const ImageCase& ic : common_images(t))
    for (const MaskSpec& spec : kMaskSpecs) {
      if (ic.format == kCl && spec.mode != MaskMode::Relaxed) continue;
      const bool training = spec.training();
      const MaskParams p{spec.mode, 0.5, 11, 3, 100};  // tau 0.5: sigmoid'(a) / tau stays O(1)
      t.add("mask", str_cat(spec.name, "_tau0p5_", image_name(ic.x, ic.format)), ic.format, kBroadcast, fast,
            [=, x = ic.x](CaseInputs& in) {
              const Tensor a = in.input("x", x.shape());
              const Tensor logits = in.input("logits", {x.c}, {.low = -2, .high = 2, .differentiable = training});
              const Tensor noise =
                  spec.given_noise ? in.input("noise", {x.c}, {.low = -3, .high = 3, .differentiable = false}) : Tensor();
              return CaseOutputs{mask(a, logits, p, noise)};
            });
    }
}

// --- layout -----------------------------------------------------------------------------------
void layout_cases(Table& t) {
  const Image big = t.image({1, 37, 13, 13}), batch = t.image({2, 13, 7, 9});
  const Shape rows{t.dim(17), t.dim(9)};
  const std::string rows_name = str_cat("rows_", rows[0], "x", rows[1]);

  t.add("reshape", image_name(big, kNchw) + "_to_channels_by_pixels", kNchw, kExact, {}, [big](CaseInputs& in) {
    return CaseOutputs{reshape(in.input("x", big.shape()), {big.c, -1})};  // a view
  });
  t.add("reshape", image_name(batch, kCl) + "_to_batch_by_features", kCl, kExact, {}, [batch](CaseInputs& in) {
    return CaseOutputs{reshape(in.input("x", batch.shape()), {batch.n, -1})};  // channels-last: a copy
  });
  for (const ImageCase& ic : common_images(t))
    t.add("flatten", image_name(ic.x, ic.format), ic.format, kExact, {},
          [s = ic.x.shape()](CaseInputs& in) { return CaseOutputs{flatten(in.input("x", s))}; });
  for (const ImageCase& ic : common_images(t))
    t.add("permute", "to_nhwc_" + image_name(ic.x, ic.format), ic.format, kExact, {},
          [s = ic.x.shape()](CaseInputs& in) { return CaseOutputs{permute(in.input("x", s), {0, 2, 3, 1})}; });
  t.add("permute", "transpose_" + rows_name, kNchw, kExact, {},
        [rows](CaseInputs& in) { return CaseOutputs{permute(in.input("x", rows), {1, 0})}; });
  t.add("narrow", "channels_3_to_10_" + image_name(batch, kCl), kCl, kExact, {}, [batch](CaseInputs& in) {
    return CaseOutputs{narrow(in.input("x", batch.shape()), 1, 3, 7)};
  });
  t.add("narrow", "height_2_to_7_" + image_name(big, kNchw), kNchw, kExact, {}, [big](CaseInputs& in) {
    return CaseOutputs{narrow(in.input("x", big.shape()), 2, 2, 5)};
  });
  t.add("expand", "per_channel_to_" + image_name(batch, kNchw), kNchw, kViewThenSum, {}, [batch](CaseInputs& in) {
    return CaseOutputs{expand(in.input("x", {batch.c, 1, 1}), batch.shape())};
  });
  t.add("expand", "one_to_" + image_name(big, kCl), kCl, kViewThenSum, {}, [big](CaseInputs& in) {
    return CaseOutputs{expand(in.input("x", {1, 1, 1, 1}), big.shape())};
  });
  t.add("concat", "channels_1_5_7_" + image_name({batch.n, 13, batch.h, batch.w}, kCl), kCl, kExact, {{"concat", kAvx2}},
        [batch](CaseInputs& in) {
          std::vector<Tensor> parts;
          for (const int64_t c : {1, 5, 7}) parts.push_back(in.input(str_cat("x", parts.size()), {batch.n, c, batch.h, batch.w}));
          return CaseOutputs{concat(parts, 1)};
        });
  // The same input twice: its gradient is the sum of the two slices' gradients.
  t.add("concat", "same_input_twice_" + image_name(big, kNchw), kNchw, kViewThenSum, {}, [big](CaseInputs& in) {
    const Tensor x = in.input("x", big.shape());
    return CaseOutputs{concat({x, x}, 1)};
  });
  t.add("concat", "rows_" + rows_name, kNchw, kExact, {}, [rows](CaseInputs& in) {
    return CaseOutputs{concat({in.input("a", rows), in.input("b", {3, rows[1]})}, 0)};
  });
  t.add("contiguous", "to_cl_" + image_name(batch, kNchw), kNchw, kExact, {}, [batch](CaseInputs& in) {
    return CaseOutputs{contiguous(in.input("x", batch.shape()), kCl)};
  });
  t.add("contiguous", "to_nchw_" + image_name(big, kCl), kCl, kExact, {}, [big](CaseInputs& in) {
    return CaseOutputs{contiguous(in.input("x", big.shape()), kNchw)};
  });
}

// --- classification ---------------------------------------------------------------------------
void loss_cases(Table& t) {
  struct Logits {
    int64_t n, k;
    double smoothing;
  };
  for (const Logits l0 : {Logits{7, 10, 0}, Logits{3, 1001, 0}, Logits{1, 1, 0}}) {
    const Logits l{t.batch(l0.n), l0.k, 0};
    t.add("log_softmax", str_cat("n", l.n, "_k", l.k), kNchw, kSoftmax, {}, [l](CaseInputs& in) {
      return CaseOutputs{log_softmax(in.input("logits", {l.n, l.k}, {.low = -6, .high = 6}))};
    });
  }
  for (const Logits l0 : {Logits{7, 10, 0}, Logits{5, 1001, 0.1}, Logits{1, 3, 0}}) {
    const Logits l{t.batch(l0.n), l0.k, l0.smoothing};
    t.add("cross_entropy", str_cat("n", l.n, "_k", l.k, l.smoothing > 0 ? "_smoothing0p1" : ""), kNchw, kSoftmax, {},
          [l](CaseInputs& in) {
            const Tensor logits = in.input("logits", {l.n, l.k}, {.low = -6, .high = 6});
            return CaseOutputs{cross_entropy(logits, in.labels("labels", l.n, l.k), l.smoothing)};
          });
  }
}

// --- sparse products and casts -----------------------------------------------------------------
void sparse_cases(Table& t) {
  for (const auto& [rows0, cols0] : {std::pair<int64_t, int64_t>{37, 53}, {7, 300}}) {
    const int64_t rows = t.dim(rows0), cols = t.dim(cols0);
    t.add("sparse_matvec", str_cat("rows", rows, "_cols", cols), kNchw, kSparse, {}, [rows, cols](CaseInputs& in) {
      const SparseMatrix& a = in.constant<SparseMatrix>("a", [&] {
        // rows * cols / 8 entries at drawn positions (some repeat and add up); the last row and
        // the first column stay empty.
        const int64_t count = rows * cols / 8;
        const std::vector<double> where = in.host_values(2 * count, 0, 1), value = in.host_values(count, -1, 1);
        std::vector<SparseEntry> entries;
        for (int64_t i = 0; i < count; ++i) {
          const auto row = static_cast<int64_t>(where[static_cast<size_t>(2 * i)] * static_cast<double>(rows - 1));
          const auto col = 1 + static_cast<int64_t>(where[static_cast<size_t>(2 * i + 1)] * static_cast<double>(cols - 1));
          entries.push_back({row, col, value[static_cast<size_t>(i)]});
        }
        return SparseMatrix::from_entries(rows, cols, entries, in.dtype(), in.device());
      });
      return CaseOutputs{sparse_matvec(a, in.input("x", {cols}))};
    });
  }
  // To the other floating dtype and, in backward, back: float32 numbers are exact in both.
  const Image big = t.image({1, 37, 13, 13});
  const Shape rows{t.dim(5), t.dim(19)};
  for (const auto& [name, shape] : {std::pair<std::string, Shape>{image_name(big, kNchw), big.shape()},
                                    {str_cat("rows_", rows[0], "x", rows[1]), rows}})
    t.add("cast", "to_the_other_float_" + name, kNchw, kExact, {}, [shape](CaseInputs& in) {
      const Tensor x = in.input("x", shape);
      return CaseOutputs{cast(x, x.dtype() == DType::Float32 ? DType::Float64 : DType::Float32)};
    });
}

// --- collectives ------------------------------------------------------------------------------
// A process group of `ranks` ranks that all hold this process's tensors: a sum over ranks is the
// tensor times `ranks`. It makes the collectives' arithmetic visible in one process (with the
// single-process group they are identities).
class ReplicatedRanks final : public dist::ProcessGroup {
 public:
  explicit ReplicatedRanks(int ranks) : ranks_(ranks) {}
  int rank() const override { return 0; }
  int world_size() const override { return ranks_; }
  std::string backend_name() const override { return "replicated"; }
  void all_reduce_sum(const Tensor& t) override {
    NoGradGuard no_grad;
    raw::copy_(t, mul_scalar(t, ranks_));
  }
  void all_reduce_sum(double* values, size_t count) override {
    for (size_t i = 0; i < count; ++i) values[i] *= ranks_;
  }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  int ranks_;
};

// Installs a ReplicatedRanks group until the returned handle is released (after backward).
std::shared_ptr<void> replicated_world(int ranks) {
  dist::set_world(std::make_shared<ReplicatedRanks>(ranks));
  return std::shared_ptr<void>(nullptr, [](void*) { dist::set_world(nullptr); });
}

void distributed_cases(Table& t) {
  const Image big = t.image({1, 37, 13, 13}), batch = t.image({2, 13, 7, 9});
  t.add("all_reduce_sum", "single_process_" + image_name(big, kNchw), kNchw, kExact, {}, [big](CaseInputs& in) {
    return CaseOutputs{all_reduce_sum(in.input("x", big.shape()))};
  });
  // x 4 forward, gy x 4 backward: exact in float32 (a power of two).
  t.add("all_reduce_sum", "four_replicated_ranks_" + image_name(batch, kCl), kCl, kExact, {}, [batch](CaseInputs& in) {
    const Tensor x = in.input("x", batch.shape());
    CaseOutputs out;
    out.scope = replicated_world(4);
    out.y = all_reduce_sum(x);
    return out;
  });
  const NormSpec single{"train", batch, kNchw}, replicated{"train", big, kCl};
  t.add("sync_batch_norm", "single_process_" + image_name(batch, kNchw), kNchw, kBatchNorm, {},
        [single](CaseInputs& in) { return normalise(in, single, true); });
  t.add("sync_batch_norm", "four_replicated_ranks_" + image_name(big, kCl), kCl, kBatchNorm, {},
        [replicated](CaseInputs& in) {
          std::shared_ptr<void> scope = replicated_world(4);
          CaseOutputs out = normalise(in, replicated, true);
          out.scope = std::move(scope);
          return out;
        });
}

}  // namespace

std::vector<OpCase> op_cases(CaseScale scale) {
  Table t(scale);
  unary_cases(t);
  binary_cases(t);
  reduction_cases(t);
  linear_cases(t);
  conv_cases(t);
  pool_cases(t);
  batch_norm_cases(t);
  mask_cases(t);
  channel_scale_cases(t);
  mask_op_cases(t);
  layout_cases(t);
  loss_cases(t);
  sparse_cases(t);
  distributed_cases(t);
  return std::move(t.cases);
}

const std::vector<OpExemption>& op_exemptions() {
  static const std::vector<OpExemption> exemptions = {
      {"figs_cost",
       "host-side float64 arithmetic with a closed-form gradient (nas/channel_graph.cpp): no backend kernel to "
       "compare; its oracles are hand-computed costs and finite differences in tests/nas (test_expected_cost, "
       "test_cost_accounting)"},
      {"morphnet_cost",
       "host-side float64 arithmetic with a closed-form gradient (nas/baselines/morphnet.cpp): no backend kernel "
       "to compare; its oracle is tests/nas/test_morphnet.cpp"},
  };
  return exemptions;
}

}  // namespace figs::backend_ops
