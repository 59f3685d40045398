// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC'11), the generator of Random123, cuRAND and PyTorch.
//
// Note [RNG layout]
// A draw is a pure function of (seed, stream, counter): no state moves between threads or devices,
// so the CPU and CUDA backends produce the same numbers for the same key, whatever the thread count.
//   key     = (seed low 32 bits, seed high 32 bits)
//   counter = (counter low, counter high, stream low, stream high)
// Tensor fills give element i (logical row-major index) the block at counter base + i and use its
// words in order; one block per element keeps every element independent of the tensor's shape
// and of how work is split. Streams separate independent consumers (parameter init, data
// augmentation, the mask layers' noise, ...); a Generator hands out counter ranges within one.
// Everything here is host+device code so the CUDA kernels include this very file.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FIGS_HOST_DEVICE __host__ __device__
#else
#define FIGS_HOST_DEVICE
#endif

namespace figs {

struct PhiloxBlock {
  uint32_t w[4];
};

// Philox4x32 with `rounds` rounds (10 is the standard, known-answer-tested variant).
FIGS_HOST_DEVICE inline PhiloxBlock philox4x32(PhiloxBlock ctr, uint32_t key0, uint32_t key1,
                                               int rounds = 10) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;    // round multipliers
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule increments
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * ctr.w[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * ctr.w[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = PhiloxBlock{{hi1 ^ ctr.w[1] ^ key0, lo1, hi0 ^ ctr.w[3] ^ key1, lo0}};
  }
  return ctr;
}

// The numbers at (seed, stream, counter), per Note [RNG layout].
FIGS_HOST_DEVICE inline PhiloxBlock philox_draw(uint64_t seed, uint64_t stream, uint64_t counter) {
  const PhiloxBlock ctr{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32),
                         static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}};
  return philox4x32(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in the open interval (0, 1): k random bits b, returned as (b + 1/2) / 2^k. k is one
// less than the mantissa width (23 for float, 52 for double) so that b + 1/2 is exact: never 0,
// never rounded up to 1, and log(u), log(1 - u) are always finite.
FIGS_HOST_DEVICE inline float uniform_open_f32(uint32_t bits) {
  return (static_cast<float>(bits >> 9) + 0.5f) * (1.0f / 8388608.0f);
}
FIGS_HOST_DEVICE inline double uniform_open_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits = ((static_cast<uint64_t>(hi) << 20) ^ (lo >> 12)) & ((1ull << 52) - 1);
  return (static_cast<double>(bits) + 0.5) * (1.0 / 4503599627370496.0);
}

// Where a tensor fill draws from: element i uses philox_draw(seed, stream, counter + i).
struct RngDraw {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint64_t counter = 0;
};

// Hands out disjoint counter ranges of one (seed, stream), so successive fills differ and a
// run that replays the same calls draws the same numbers. Its whole state is three integers,
// which is what a checkpoint stores.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  RngDraw reserve(uint64_t n) {
    RngDraw d{seed_, stream_, offset_};
    offset_ += n;
    return d;
  }
  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }

 private:
  uint64_t seed_, stream_, offset_ = 0;
};

}  // namespace figs
