// Batch normalisation on oneDNN (same formulas as cpu/reference/batch_norm.h).
//
// Note [one layout for BN's data tensors]: oneDNN's batch norm describes src and dst with ONE
// descriptor (and diff_src and diff_dst with another single one), so every data tensor handed to
// it must lie in memory exactly like the first. A gradient that arrives as a view (a channel slice
// of a concat's gradient) or in the other layout is therefore copied into the layout of x first,
// and an output that cannot take it is computed in a temporary and copied — otherwise oneDNN
// writes the output with the view's strides, past the end of the output's allocation.
//
// oneDNN keeps the batch variance; our interface saves 1/sqrt(var + eps) (what CUDA kernels
// and the reference use), so backward turns it back into var = 1/invstd^2 - eps. Running
// statistics are updated here, after the forward, with PyTorch's convention (unbiased variance).
#include <cmath>

#include "cpu/onednn/context.h"
#include "cpu/onednn/kernels.h"
#include "core/view.h"

namespace figs::cpu::onednn {

namespace {

using flags = dnnl::normalization_flags;

// Same memory layout: equal strides on every dim of size > 1.
bool same_layout(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int d = 0; d < a.dim(); ++d)
    if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
  return true;
}
// x as a dense tensor (itself when it already is one).
Tensor dense(const Tensor& x) {
  const MemoryFormat f = x.memory_format();
  return x.is_contiguous(f) ? x : raw::contiguous(x, f);
}
// t in the layout of `ref` (a dense tensor): itself when it already is.
Tensor in_layout_of(const Tensor& t, const Tensor& ref) {
  if (same_layout(t, ref)) return t;
  Tensor out = empty_like(ref);
  raw::copy_(out, t);
  return out;
}

flags affine_flags(bool affine) { return affine ? (flags::use_scale | flags::use_shift) : flags::none; }

struct Forward {
  dnnl::batch_normalization_forward::primitive_desc pd;
  dnnl::batch_normalization_forward prim;
};
struct Backward {
  dnnl::batch_normalization_backward::primitive_desc pd;
  dnnl::batch_normalization_backward prim;
};

dnnl::memory channel_memory(const Tensor& t) { return memory_of(desc_with({t.size(0)}, {t.stride(0)}), t); }

Forward& forward(const Tensor& x, const Tensor& y, double eps, flags f, dnnl::prop_kind kind) {
  return cached<Forward>(Key("bn_fwd").add(x).add(y).add(static_cast<int64_t>(f)).add(static_cast<int64_t>(kind))
                             .add(static_cast<int64_t>(std::llround(eps * 1e12))),
                         [&] {
                           auto desc = dnnl::batch_normalization_forward::desc(kind, desc_of(x), static_cast<float>(eps), f);
                           auto pd = dnnl::batch_normalization_forward::primitive_desc(desc, default_attr(), engine());
                           return Forward{pd, dnnl::batch_normalization_forward(pd)};
                         });
}

}  // namespace

void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x_in, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, const Tensor& y_out,
                                 const Tensor& save_mean, const Tensor& save_invstd) {
  const bool affine = gamma.defined();
  const Tensor x = dense(x_in);  // Note [one layout for BN's data tensors]
  const Tensor y = same_layout(y_out, x) ? y_out : empty_like(x);
  const int64_t C = x.size(1);
  Forward& f = forward(x, y, p.eps, affine_flags(affine), dnnl::prop_kind::forward_training);
  // oneDNN writes the biased batch variance; save_invstd first receives it, then is converted.
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, memory_of(desc_of(x), x)},
                                             {DNNL_ARG_DST, memory_of(desc_of(y), y)},
                                             {DNNL_ARG_MEAN, channel_memory(save_mean)},
                                             {DNNL_ARG_VARIANCE, channel_memory(save_invstd)}};
  if (affine) {
    args.emplace(DNNL_ARG_SCALE, channel_memory(gamma));
    args.emplace(DNNL_ARG_SHIFT, channel_memory(beta));
  }
  execute(f.prim, f.pd, std::move(args));
  const int64_t M = x.size(0) * x.size(2) * x.size(3);
  float* mean = save_mean.data<float>();
  float* var_then_invstd = save_invstd.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    const double var = var_then_invstd[c * save_invstd.stride(0)];
    const double m = mean[c * save_mean.stride(0)];
    if (running_mean.defined()) {
      float& rm = running_mean.data<float>()[c * running_mean.stride(0)];
      float& rv = running_var.data<float>()[c * running_var.stride(0)];
      rm = static_cast<float>((1 - p.momentum) * rm + p.momentum * m);
      rv = static_cast<float>((1 - p.momentum) * rv + p.momentum * (M > 1 ? var * M / (M - 1) : var));
    }
    var_then_invstd[c * save_invstd.stride(0)] = static_cast<float>(1.0 / std::sqrt(var + p.eps));
  }
  if (!y.same_as(y_out)) raw::copy_(y_out, y);
}

void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x_in, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, const Tensor& y_out) {
  const bool affine = gamma.defined();
  const Tensor x = dense(x_in);  // Note [one layout for BN's data tensors]
  const Tensor y = same_layout(y_out, x) ? y_out : empty_like(x);
  Forward& f = forward(x, y, p.eps, affine_flags(affine) | flags::use_global_stats, dnnl::prop_kind::forward_inference);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, memory_of(desc_of(x), x)},
                                             {DNNL_ARG_DST, memory_of(desc_of(y), y)},
                                             {DNNL_ARG_MEAN, channel_memory(running_mean)},
                                             {DNNL_ARG_VARIANCE, channel_memory(running_var)}};
  if (affine) {
    args.emplace(DNNL_ARG_SCALE, channel_memory(gamma));
    args.emplace(DNNL_ARG_SHIFT, channel_memory(beta));
  }
  execute(f.prim, f.pd, std::move(args));
  if (!y.same_as(y_out)) raw::copy_(y_out, y);
}

void batch_norm_backward(const BatchNormParams& p, const Tensor& gy_in, const Tensor& x_in, const Tensor& gamma,
                         const Tensor& mean, const Tensor& invstd, const Tensor& gx, const Tensor& ggamma,
                         const Tensor& gbeta) {
  const bool affine = gamma.defined();
  const Tensor x = dense(x_in);  // Note [one layout for BN's data tensors]
  const Tensor gy = in_layout_of(gy_in, x);
  const int64_t C = x.size(1);
  const flags f = affine_flags(affine) | (p.training ? flags::none : flags::use_global_stats);
  const dnnl::prop_kind kind = affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
  Backward& b = cached<Backward>(
      Key("bn_bwd").add(gy).add(x).add(gx).add(static_cast<int64_t>(f)).add(static_cast<int64_t>(std::llround(p.eps * 1e12))),
      [&] {
        auto hint = dnnl::batch_normalization_forward::primitive_desc(
            dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, desc_of(x), static_cast<float>(p.eps), f),
            engine());
        auto desc = dnnl::batch_normalization_backward::desc(kind, desc_of(gy), desc_of(x), static_cast<float>(p.eps), f);
        auto pd = dnnl::batch_normalization_backward::primitive_desc(desc, default_attr(), engine(), hint);
        return Backward{pd, dnnl::batch_normalization_backward(pd)};
      });
  // oneDNN wants the variance; we saved 1/sqrt(var + eps).
  Tensor var = empty({C});
  for (int64_t c = 0; c < C; ++c) {
    const double is = invstd.data<float>()[c * invstd.stride(0)];
    var.data<float>()[c] = static_cast<float>(1.0 / (is * is) - p.eps);
  }
  Tensor dx = gx.defined() && same_layout(gx, x) ? gx : empty_like(x);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, memory_of(desc_of(x), x)},
                                             {DNNL_ARG_DIFF_DST, memory_of(desc_of(gy), gy)},
                                             {DNNL_ARG_MEAN, channel_memory(mean)},
                                             {DNNL_ARG_VARIANCE, channel_memory(var)},
                                             {DNNL_ARG_DIFF_SRC, memory_of(desc_of(dx), dx)}};
  // Buffers for what the caller did not ask for, and a shift oneDNN 2.6 insists on receiving in a
  // use_shift backward although the gradient does not depend on it (invalid_arguments without it);
  // they must outlive execute(), since the memory objects only borrow them.
  const Tensor dg = affine && !ggamma.defined() ? empty({C}) : ggamma;
  const Tensor db = affine && !gbeta.defined() ? empty({C}) : gbeta;
  const Tensor unused_shift = affine ? zeros({C}) : Tensor();
  if (affine) {
    args.emplace(DNNL_ARG_SHIFT, channel_memory(unused_shift));
    args.emplace(DNNL_ARG_SCALE, channel_memory(gamma));
    args.emplace(DNNL_ARG_DIFF_SCALE, channel_memory(dg));
    args.emplace(DNNL_ARG_DIFF_SHIFT, channel_memory(db));
  }
  execute(b.prim, b.pd, std::move(args));
  if (gx.defined() && !dx.same_as(gx)) raw::copy_(gx, dx);
}

}  // namespace figs::cpu::onednn
