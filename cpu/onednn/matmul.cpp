// matmul on oneDNN: (M, K) @ (K, N) with any strides, so transposed operands need no copy.
#include "cpu/onednn/context.h"
#include "cpu/onednn/kernels.h"

namespace figs::cpu::onednn {

namespace {
struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};
}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  Matmul& m = cached<Matmul>(Key("matmul").add(a).add(b).add(out), [&] {
    auto pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(desc_of(a), desc_of(b), desc_of(out)), default_attr(),
                                           engine());
    return Matmul{pd, dnnl::matmul(pd)};
  });
  execute(m.prim, m.pd,
          {{DNNL_ARG_SRC, memory_of(desc_of(a), a)},
           {DNNL_ARG_WEIGHTS, memory_of(desc_of(b), b)},
           {DNNL_ARG_DST, memory_of(desc_of(out), out)}});
}

}  // namespace figs::cpu::onednn
