#include <sstream>

#include "test_util.h"

namespace figs {
namespace {

TEST(Tensor, FactoriesFillValues) {
  EXPECT_EQ(zeros({2, 3}).to_vector<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(ones({4}, {DType::Float64}).to_vector<double>(), std::vector<double>(4, 1.0));
  EXPECT_EQ(full({2}, 2.5).to_vector<float>(), (std::vector<float>{2.5f, 2.5f}));
  EXPECT_EQ(arange(5, {DType::Int64}).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  const Tensor t = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.at<float>({1, 2}), 6.f);
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.size(-1), 3);
}

TEST(Tensor, ScalarTensorHasRankZero) {
  const Tensor s = full({}, 3.0, {DType::Float64});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item<double>(), 3.0);
}

TEST(Tensor, ReshapeOfContiguousIsAViewSharingStorage) {
  const Tensor t = from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  const Tensor v = raw::reshape(t, {3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.storage(), t.storage());
  t.data<float>()[5] = 50;
  EXPECT_EQ(v.at<float>({2, 1}), 50.f);
  EXPECT_ERROR_MENTIONS(raw::reshape(t, {4, 2}), "reshape");
  EXPECT_ERROR_MENTIONS(raw::reshape(t, {-1, -1}), "more than one -1");
}

TEST(Tensor, PermuteAndNarrowAreViews) {
  const Tensor t = from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  const Tensor p = raw::permute(t, {1, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 2}));
  EXPECT_EQ(p.at<float>({2, 1}), 5.f);
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(raw::contiguous(p).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // Reshaping a non-contiguous view copies (it cannot be a view).
  EXPECT_EQ(raw::reshape(p, {6}).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));

  const Tensor img = from_vector<float>(std::vector<float>(2 * 5 * 2 * 2, 0.f), {2, 5, 2, 2});
  const Tensor slice = raw::narrow(img, 1, 1, 3);  // channels 1..3
  EXPECT_EQ(slice.shape(), (Shape{2, 3, 2, 2}));
  EXPECT_EQ(slice.storage(), img.storage());
  EXPECT_EQ(slice.offset(), 4);
  EXPECT_ERROR_MENTIONS(raw::narrow(img, 1, 3, 3), "narrow: range [3, 6) is outside dim 1");
}

TEST(Tensor, ExpandUsesZeroStrides) {
  const Tensor c = from_vector<float>({1, 2, 3}, {1, 3, 1, 1});
  const Tensor e = raw::expand(c, {2, 3, 2, 2});
  EXPECT_EQ(e.stride(0), 0);
  EXPECT_EQ(e.stride(2), 0);
  EXPECT_EQ(e.at<float>({1, 2, 1, 0}), 3.f);
  EXPECT_ERROR_MENTIONS(raw::expand(c, {2, 4, 1, 1}), "expand");
}

TEST(Tensor, ChannelsLastKeepsLogicalShapeAndValues) {
  // x[n, c, h, w] = 1000 n + 100 c + 10 h + w
  std::vector<float> v;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 5; ++w) v.push_back(1000.f * n + 100.f * c + 10.f * h + w);
  const Tensor x = from_vector(v, {2, 3, 4, 5});
  const Tensor cl = raw::contiguous(x, MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.shape(), x.shape());
  EXPECT_TRUE(cl.is_contiguous(MemoryFormat::ChannelsLast));
  EXPECT_FALSE(cl.is_contiguous());
  EXPECT_EQ(cl.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.at<float>({1, 2, 3, 4}), 1234.f);
  // In memory: channels innermost. Element (n=0, h=0, w=1) starts at 3 (after w=0's 3 channels).
  EXPECT_EQ(cl.data<float>()[3], 1.f);
  EXPECT_EQ(cl.data<float>()[4], 101.f);
  EXPECT_EQ(cl.to_vector<float>(), v);  // logical order is unchanged
  EXPECT_EQ(raw::contiguous(cl).to_vector<float>(), v);
}

TEST(Tensor, LayoutOfOneChannelTensorsAndChannelSlices) {
  // One channel: NHWC and NCHW describe the same memory; the exact strides say which it was made in,
  // so ops that follow the input's layout keep a channels-last network channels-last.
  const Tensor one = zeros({2, 1, 3, 3}, {DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast});
  EXPECT_TRUE(one.is_contiguous());
  EXPECT_EQ(one.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(zeros({2, 1, 3, 3}).memory_format(), MemoryFormat::Contiguous);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  EXPECT_EQ(conv2d(one, zeros({4, 1, 3, 3}), Tensor(), p).memory_format(), MemoryFormat::ChannelsLast);
  // A channel slice of a channels-last tensor is neither layout, but follows channels-last.
  const Tensor wide = zeros({2, 5, 3, 3}, {DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast});
  EXPECT_EQ(raw::narrow(wide, 1, 1, 2).memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(empty_like(raw::narrow(wide, 1, 1, 2)).memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(raw::narrow(zeros({2, 5, 3, 3}), 1, 1, 2).memory_format(), MemoryFormat::Contiguous);
}

TEST(Tensor, DtypeConversionAndChecks) {
  const Tensor d = raw::to_dtype(from_vector<float>({1.5f, -2.f}, {2}), DType::Float64);
  EXPECT_EQ(d.dtype(), DType::Float64);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1.5, -2.0}));
  EXPECT_ERROR_MENTIONS(d.data<float>(), "tensor is float64, asked for float32");
  EXPECT_ERROR_MENTIONS(from_vector<float>({1, 2, 3}, {2, 2}), "from_vector: 3 values for shape [2,2]");
  EXPECT_ERROR_MENTIONS(d.at<double>({0, 0}), "2 indices");
  EXPECT_ERROR_MENTIONS(d.at<double>({2}), "index 2 out of range");
  EXPECT_ERROR_MENTIONS(Tensor().shape(), "undefined tensor");
}

TEST(Tensor, PrintingShowsShapeDtypeAndValues) {
  std::ostringstream os;
  os << from_vector<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_NE(os.str().find("float32[2,2] cpu"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("3 4"), std::string::npos) << os.str();
}

TEST(Tensor, RawViewsRefuseTensorsInTheGraph) {
  Tensor w = zeros({2, 2}).set_requires_grad();
  EXPECT_ERROR_MENTIONS(raw::reshape(w, {4}), "use figs::reshape");
  NoGradGuard no_grad;
  EXPECT_EQ(raw::reshape(w, {4}).numel(), 4);  // fine outside grad mode
}

TEST(Tensor, CopyBetweenLayoutsAndClone) {
  const Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {1, 3, 1, 2});
  Tensor b = zeros({1, 3, 1, 2}, {DType::Float64, Device::cpu(), MemoryFormat::ChannelsLast});
  raw::copy_(b, a);
  EXPECT_EQ(b.to_vector<double>(), a.to_vector<double>());
  const Tensor c = raw::clone(b);
  EXPECT_NE(c.storage(), b.storage());
  EXPECT_EQ(c.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_ERROR_MENTIONS(raw::copy_(zeros({2}), a), "differ in shape");
}

TEST(Tensor, BuildInfoDescribesTheBuild) {
  const BuildInfo info = build_info();
  EXPECT_FALSE(info.version.empty());
  EXPECT_NE(info.summary().find("figs"), std::string::npos);
  if (info.with_onednn) {
    EXPECT_FALSE(info.onednn_version.empty());
  }
}

}  // namespace
}  // namespace figs
