// Average pooling on oneDNN. Its divisor matches ours (cpu/reference/pool2d.h): with the right
// padding chosen so output sizes agree, no window reaches past the padded input, so "include
// padding" divides by KH*KW exactly where we do, and "exclude padding" counts the same cells.
#include "cpu/onednn/context.h"
#include "cpu/onednn/kernels.h"

namespace figs::cpu::onednn {

namespace {

struct PoolShape {
  dnnl::memory::dims strides, kernel, pad_l, pad_r;
  dnnl::algorithm algo;
};

PoolShape pool_shape(const Pool2dParams& p, const Shape& x, const Shape& y) {
  return {{p.stride_h, p.stride_w},
          {p.kernel_h, p.kernel_w},
          {p.pad_h, p.pad_w},
          {(y[2] - 1) * p.stride_h + p.kernel_h - x[2] - p.pad_h, (y[3] - 1) * p.stride_w + p.kernel_w - x[3] - p.pad_w},
          p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                              : dnnl::algorithm::pooling_avg_exclude_padding};
}

dnnl::pooling_forward::desc forward_desc(const PoolShape& s, const Tensor& x, const Tensor& y) {
  return {dnnl::prop_kind::forward_training, s.algo, desc_of(x), desc_of(y), s.strides, s.kernel, s.pad_l, s.pad_r};
}

struct Forward {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
};
struct Backward {
  dnnl::pooling_backward::primitive_desc pd;
  dnnl::pooling_backward prim;
};

Key pool_key(const char* op, const Pool2dParams& p, const Tensor& a, const Tensor& b) {
  return Key(op).add(a).add(b).add(p.kernel_h).add(p.kernel_w).add(p.stride_h).add(p.stride_w).add(p.pad_h)
      .add(p.pad_w).add(p.count_include_pad);
}

}  // namespace

void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  const PoolShape s = pool_shape(p, x.shape(), y.shape());
  Forward& f = cached<Forward>(pool_key("avg_pool_fwd", p, x, y), [&] {
    auto pd = dnnl::pooling_forward::primitive_desc(forward_desc(s, x, y), default_attr(), engine());
    return Forward{pd, dnnl::pooling_forward(pd)};
  });
  execute(f.prim, f.pd, {{DNNL_ARG_SRC, memory_of(desc_of(x), x)}, {DNNL_ARG_DST, memory_of(desc_of(y), y)}});
}

void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) {
  const PoolShape s = pool_shape(p, gx.shape(), gy.shape());
  Backward& b = cached<Backward>(pool_key("avg_pool_bwd", p, gy, gx), [&] {
    auto hint = dnnl::pooling_forward::primitive_desc(forward_desc(s, gx, gy), engine());
    auto desc = dnnl::pooling_backward::desc(s.algo, desc_of(gx), desc_of(gy), s.strides, s.kernel, s.pad_l, s.pad_r);
    auto pd = dnnl::pooling_backward::primitive_desc(desc, default_attr(), engine(), hint);
    return Backward{pd, dnnl::pooling_backward(pd)};
  });
  execute(b.prim, b.pd,
          {{DNNL_ARG_DIFF_DST, memory_of(desc_of(gy), gy)}, {DNNL_ARG_DIFF_SRC, memory_of(desc_of(gx), gx)}});
}

}  // namespace figs::cpu::onednn
