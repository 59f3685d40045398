// conv2d forward / backward-data / backward-weights on oneDNN.
//
// Activations are described in place (their own strides: NCHW or channels-last), so no reorder
// touches them. Weights are handed to oneDNN in whatever blocked format its kernel asks for
// (format_tag::any): they are small, and the reorder into that format is the price of letting
// oneDNN pick its fastest kernel. Grouped weights (O, I/G, KH, KW) are viewed as (G, O/G, I/G, KH, KW).
//
// Strided 1x1 backward-weights never reaches oneDNN's own reduce-to-unit-stride path: see
// conv2d_backward_weight.
#include "core/parallel.h"
#include "cpu/onednn/context.h"
#include "cpu/onednn/kernels.h"

namespace figs::cpu::onednn {

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

struct ConvShape {
  memory::dims strides, dilates, pad_l, pad_r;
  memory::dims weight_dims, weight_strides;  // user layout, grouped view when groups > 1
  memory::dims bias_dims;
};

ConvShape conv_shape(const Conv2dParams& p, const Shape& x, const Tensor& w, const Shape& y) {
  ConvShape s;
  s.strides = {p.stride_h, p.stride_w};
  s.dilates = {p.dilation_h - 1, p.dilation_w - 1};  // oneDNN counts dilation from 0
  s.pad_l = {p.pad_h, p.pad_w};
  const int64_t KH = w.size(2), KW = w.size(3);
  // Right/bottom padding that makes oneDNN's output size equal ours (floor division may leave
  // part of the left padding unmatched on the right).
  s.pad_r = {(y[2] - 1) * p.stride_h + (KH - 1) * p.dilation_h + 1 - x[2] - p.pad_h,
             (y[3] - 1) * p.stride_w + (KW - 1) * p.dilation_w + 1 - x[3] - p.pad_w};
  const int64_t O = w.size(0), I = w.size(1), G = p.groups;
  if (G == 1) {
    s.weight_dims = {O, I, KH, KW};
    s.weight_strides = {w.stride(0), w.stride(1), w.stride(2), w.stride(3)};
  } else {
    s.weight_dims = {G, O / G, I, KH, KW};
    s.weight_strides = {w.stride(0) * (O / G), w.stride(0), w.stride(1), w.stride(2), w.stride(3)};
  }
  s.bias_dims = {O};
  return s;
}

memory::desc any_weights(const ConvShape& s) {
  return memory::desc(s.weight_dims, memory::data_type::f32, tag::any);
}

dnnl::convolution_forward::desc forward_desc(const ConvShape& s, const memory::desc& src, const memory::desc& dst,
                                             bool has_bias) {
  if (has_bias)
    return {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, any_weights(s),
            memory::desc(s.bias_dims, memory::data_type::f32, tag::x), dst, s.strides, s.dilates, s.pad_l, s.pad_r};
  return {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, any_weights(s), dst,
          s.strides, s.dilates, s.pad_l, s.pad_r};
}

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  dnnl::reorder weights_reorder;  // user -> pd layout (empty when they agree)
};

struct BackwardData {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim;
  dnnl::reorder weights_reorder;
};

struct BackwardWeights {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim;
  dnnl::reorder weights_reorder;  // pd layout -> user
};

// Feeds weights in the layout `want`: the user's memory when it already is, else a reordered copy.
memory weights_as(const memory::desc& user, const memory::desc& want, const Tensor& w, const dnnl::reorder& r,
                  Tensor& keep) {
  memory src = memory_of(user, w);
  if (want == user) return src;
  memory dst = scratch_memory(want, keep);
  r.execute(stream(), src, dst);
  return dst;
}

// A 1x1 convolution without padding at stride s reads only every s-th pixel of its input.
bool is_strided_pointwise(const Conv2dParams& p, const Tensor& w) {
  return w.size(2) == 1 && w.size(3) == 1 && p.pad_h == 0 && p.pad_w == 0 && (p.stride_h > 1 || p.stride_w > 1);
}

// x[:, :, ::stride_h, ::stride_w] cut to (OH, OW), as a dense tensor in x's memory format.
Tensor gather_strided_pixels(const Tensor& x, int64_t stride_h, int64_t stride_w, int64_t OH, int64_t OW) {
  const int64_t N = x.size(0), C = x.size(1);
  Tensor out = empty({N, C, OH, OW}, {x.dtype(), x.device(), x.memory_format()});
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const int64_t xs[4] = {x.stride(0), x.stride(1), x.stride(2) * stride_h, x.stride(3) * stride_w};
  const int64_t ys[4] = {out.stride(0), out.stride(1), out.stride(2), out.stride(3)};
  parallel_for(0, N * OH, std::max<int64_t>(1, 16384 / std::max<int64_t>(C * OW, 1)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t n = row / OH, h = row % OH;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t w = 0; w < OW; ++w)
          dst[n * ys[0] + c * ys[1] + h * ys[2] + w * ys[3]] = src[n * xs[0] + c * xs[1] + h * xs[2] + w * xs[3]];
    }
  });
  return out;
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y) {
  const ConvShape s = conv_shape(p, x.shape(), w, y.shape());
  const memory::desc user_w = desc_with(s.weight_dims, s.weight_strides);
  Forward& f = cached<Forward>(Key("conv_fwd").add(x).add(w).add(y).add(bias.defined()).add(p.stride_h).add(p.stride_w)
                                   .add(p.pad_h).add(p.pad_w).add(p.dilation_h).add(p.dilation_w).add(p.groups),
                               [&] {
                                 auto pd = dnnl::convolution_forward::primitive_desc(
                                     forward_desc(s, desc_of(x), desc_of(y), bias.defined()), default_attr(), engine());
                                 dnnl::reorder r;
                                 if (pd.weights_desc() != user_w) r = dnnl::reorder(memory(user_w, engine()), memory(pd.weights_desc(), engine()));
                                 return Forward{pd, dnnl::convolution_forward(pd), r};
                               });
  Tensor keep;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(f.pd.src_desc(), x)},
                                       {DNNL_ARG_WEIGHTS, weights_as(user_w, f.pd.weights_desc(), w, f.weights_reorder, keep)},
                                       {DNNL_ARG_DST, memory_of(f.pd.dst_desc(), y)}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory_of(desc_with(s.bias_dims, {bias.stride(0)}), bias));
  execute(f.prim, f.pd, std::move(args));
}

void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  const ConvShape s = conv_shape(p, gx.shape(), w, gy.shape());
  const memory::desc user_w = desc_with(s.weight_dims, s.weight_strides);
  BackwardData& b = cached<BackwardData>(
      Key("conv_bwd_data").add(gy).add(w).add(gx).add(p.stride_h).add(p.stride_w).add(p.pad_h).add(p.pad_w)
          .add(p.dilation_h).add(p.dilation_w).add(p.groups),
      [&] {
        auto hint = dnnl::convolution_forward::primitive_desc(forward_desc(s, desc_of(gx), desc_of(gy), false), engine());
        auto desc = dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, desc_of(gx),
                                                          any_weights(s), desc_of(gy), s.strides, s.dilates, s.pad_l,
                                                          s.pad_r);
        auto pd = dnnl::convolution_backward_data::primitive_desc(desc, default_attr(), engine(), hint);
        dnnl::reorder r;
        if (pd.weights_desc() != user_w) r = dnnl::reorder(memory(user_w, engine()), memory(pd.weights_desc(), engine()));
        return BackwardData{pd, dnnl::convolution_backward_data(pd), r};
      });
  Tensor keep;
  execute(b.prim, b.pd,
          {{DNNL_ARG_DIFF_DST, memory_of(b.pd.diff_dst_desc(), gy)},
           {DNNL_ARG_WEIGHTS, weights_as(user_w, b.pd.weights_desc(), w, b.weights_reorder, keep)},
           {DNNL_ARG_DIFF_SRC, memory_of(b.pd.diff_src_desc(), gx)}});
}

void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                            const Tensor& gbias) {
  // oneDNN 2.6's jit 1x1 backward-weights kernels, given a strided channels-last source with fewer
  // input channels than their block (16 on AVX-512, 8 on AVX2), place each thread's
  // reduce-to-unit-stride workspace rows a block apart instead of IC apart: on AVX-512 they write
  // past the scratchpad (heap corruption in FBNet at 224 px), on AVX2 threads overwrite each
  // other's rows (uxlfoundation/oneDNN#6035, open). So the subsampling is done here, once, and
  // oneDNN gets the equivalent stride-1 problem, which has no workspace. Same arithmetic, in every
  // layout; the copy is 1/(stride_h * stride_w) of x.
  if (is_strided_pointwise(p, gw)) {
    Conv2dParams unit = p;
    unit.stride_h = unit.stride_w = 1;
    conv2d_backward_weight(unit, gy, gather_strided_pixels(x, p.stride_h, p.stride_w, gy.size(2), gy.size(3)), gw,
                           gbias);
    return;
  }
  const ConvShape s = conv_shape(p, x.shape(), gw, gy.shape());
  const memory::desc user_w = desc_with(s.weight_dims, s.weight_strides);
  const bool has_bias = gbias.defined();
  BackwardWeights& b = cached<BackwardWeights>(
      Key("conv_bwd_weights").add(gy).add(x).add(gw).add(has_bias).add(p.stride_h).add(p.stride_w).add(p.pad_h)
          .add(p.pad_w).add(p.dilation_h).add(p.dilation_w).add(p.groups),
      [&] {
        auto hint = dnnl::convolution_forward::primitive_desc(forward_desc(s, desc_of(x), desc_of(gy), has_bias), engine());
        const memory::desc bias_md(s.bias_dims, memory::data_type::f32, tag::x);
        auto desc = has_bias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, desc_of(x),
                                                                        any_weights(s), bias_md, desc_of(gy), s.strides,
                                                                        s.dilates, s.pad_l, s.pad_r)
                             : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, desc_of(x),
                                                                        any_weights(s), desc_of(gy), s.strides,
                                                                        s.dilates, s.pad_l, s.pad_r);
        auto pd = dnnl::convolution_backward_weights::primitive_desc(desc, default_attr(), engine(), hint);
        dnnl::reorder r;
        if (pd.diff_weights_desc() != user_w)
          r = dnnl::reorder(memory(pd.diff_weights_desc(), engine()), memory(user_w, engine()));
        return BackwardWeights{pd, dnnl::convolution_backward_weights(pd), r};
      });
  Tensor keep;
  const bool direct = b.pd.diff_weights_desc() == user_w;
  memory gw_mem = direct ? memory_of(user_w, gw) : scratch_memory(b.pd.diff_weights_desc(), keep);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(b.pd.src_desc(), x)},
                                       {DNNL_ARG_DIFF_DST, memory_of(b.pd.diff_dst_desc(), gy)},
                                       {DNNL_ARG_DIFF_WEIGHTS, gw_mem}};
  if (has_bias) args.emplace(DNNL_ARG_DIFF_BIAS, memory_of(desc_with(s.bias_dims, {gbias.stride(0)}), gbias));
  execute(b.prim, b.pd, std::move(args));
  if (!direct) {
    dnnl::memory user = memory_of(user_w, gw);
    b.weights_reorder.execute(stream(), gw_mem, user);
    stream().wait();
  }
}

}  // namespace figs::cpu::onednn
