// Which memory layout should supernets run in? The forward pass of one separable block
// (depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU, twice) written directly against
// oneDNN in three layouts: NCHW, NHWC and the blocked format oneDNN picks itself (format_tag::any,
// e.g. nChw16c, with reorders wherever one primitive's output format differs from the next one's
// input). Blocked formats cannot be expressed as strides, so figs could only use them inside
// oneDNN-only stretches; this measures what that would buy over channels-last.
//   ./build/benchmarks/bench_layouts
#include <benchmark/benchmark.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct Step {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
};

// Builds the block's forward chain; returns the primitives with their memory, in order.
std::vector<Step> build_block(dnnl::engine& eng, int64_t N, int64_t C, int64_t H, tag layout, memory& input) {
  std::vector<Step> steps;
  const memory::dims act{N, C, H, H};
  input = memory({act, memory::data_type::f32, layout == tag::any ? tag::nhwc : layout}, eng);
  memory current = input;
  auto add_conv = [&](bool depthwise) {
    const memory::dims wdims = depthwise ? memory::dims{C, 1, 1, 3, 3} : memory::dims{C, C, 1, 1};
    const int64_t pad = depthwise ? 1 : 0;
    const memory::desc src(act, memory::data_type::f32, layout), dst(act, memory::data_type::f32, layout);
    const memory::desc w(wdims, memory::data_type::f32, tag::any);
    auto pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, w,
                                        dst, {1, 1}, {pad, pad}, {pad, pad}),
        eng);
    if (pd.src_desc() != current.get_desc()) {  // a reorder into what this conv wants
      memory re(pd.src_desc(), eng);
      steps.push_back({dnnl::reorder(current, re), {{DNNL_ARG_FROM, current}, {DNNL_ARG_TO, re}}});
      current = re;
    }
    memory weights(pd.weights_desc(), eng), out(pd.dst_desc(), eng);
    steps.push_back({dnnl::convolution_forward(pd), {{DNNL_ARG_SRC, current}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, out}}});
    current = out;
  };
  auto add_bn_relu = [&] {
    const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    auto pd = dnnl::batch_normalization_forward::primitive_desc(
        dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, current.get_desc(), 1e-5f, flags), eng);
    memory out(pd.dst_desc(), eng), mean(pd.mean_desc(), eng), var(pd.variance_desc(), eng);
    memory scale(pd.weights_desc(), eng), shift(pd.weights_desc(), eng);
    steps.push_back({dnnl::batch_normalization_forward(pd),
                     {{DNNL_ARG_SRC, current}, {DNNL_ARG_DST, out}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var},
                      {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift}}});
    auto rpd = dnnl::eltwise_forward::primitive_desc(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu, out.get_desc(), 0.f),
        eng);
    memory relu_out(rpd.dst_desc(), eng);
    steps.push_back({dnnl::eltwise_forward(rpd), {{DNNL_ARG_SRC, out}, {DNNL_ARG_DST, relu_out}}});
    current = relu_out;
  };
  for (int i = 0; i < 2; ++i) {
    add_conv(true);
    add_bn_relu();
    add_conv(false);
    add_bn_relu();
  }
  return steps;
}

// args: N, C, H, layout (0 NCHW, 1 NHWC, 2 oneDNN's choice)
void BM_block_forward_onednn(benchmark::State& state) {
  const tag layouts[] = {tag::nchw, tag::nhwc, tag::any};
  const tag layout = layouts[state.range(3)];
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  memory input;
  std::vector<Step> steps = build_block(eng, state.range(0), state.range(1), state.range(2), layout, input);
  for (auto _ : state) {
    for (Step& s : steps) s.prim.execute(strm, s.args);
    strm.wait();
  }
  state.SetLabel(layout == tag::nchw ? "nchw" : layout == tag::nhwc ? "nhwc" : "onednn-blocked");
}
BENCHMARK(BM_block_forward_onednn)
    ->ArgNames({"N", "C", "H", "L"})
    ->ArgsProduct({{64}, {32}, {28}, {0, 1, 2}})
    ->ArgsProduct({{64}, {64}, {14}, {0, 1, 2}})
    ->ArgsProduct({{64}, {128}, {7}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
