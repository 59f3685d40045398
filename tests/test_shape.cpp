#include "test_util.h"

namespace figs {
namespace {

TEST(Shape, ContiguousStridesAreRowMajor) {
  EXPECT_EQ(contiguous_strides({2, 3, 4, 5}), (Strides{60, 20, 5, 1}));
  EXPECT_EQ(contiguous_strides({7}), (Strides{1}));
  EXPECT_EQ(contiguous_strides({}), (Strides{}));
}

TEST(Shape, ChannelsLastStridesPutChannelsInnermost) {
  // (N, C, H, W) = (2, 3, 4, 5) stored NHWC: c moves by 1, w by C, h by W*C, n by H*W*C.
  EXPECT_EQ(channels_last_strides({2, 3, 4, 5}), (Strides{60, 1, 15, 3}));
  EXPECT_ERROR_MENTIONS(channels_last_strides({2, 3}), "rank-4");
}

TEST(Shape, BroadcastFollowsNumpyRules) {
  EXPECT_EQ(broadcast_shapes({2, 3, 4, 5}, {1, 3, 1, 1}, "t"), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({5}, {2, 3, 4, 1}, "t"), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 2}, "t"), (Shape{2, 2}));
  EXPECT_ERROR_MENTIONS(broadcast_shapes({2, 3}, {4, 3}, "myop"), "myop: shapes [2,3] and [4,3]");
}

TEST(Shape, NormalizeDimAcceptsNegativeAndRejectsOutOfRange) {
  EXPECT_EQ(normalize_dim(-1, 4, "t"), 3);
  EXPECT_EQ(normalize_dim(0, 4, "t"), 0);
  EXPECT_ERROR_MENTIONS(normalize_dim(4, 4, "myop"), "myop: dim 4 is out of range");
}

TEST(Shape, WindowOutputSize) {
  EXPECT_EQ(window_output_size(7, 3, 2, 1, 1), 4);   // (7 + 2 - 3) / 2 + 1
  EXPECT_EQ(window_output_size(28, 5, 1, 2, 1), 28);
  EXPECT_EQ(window_output_size(9, 3, 1, 2, 2), 9);   // dilated span 5, pad 2
}

}  // namespace
}  // namespace figs
