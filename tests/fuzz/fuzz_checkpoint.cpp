// libFuzzer target for the checkpoint reader (nn/checkpoint.cpp): read_checkpoint_info and
// load_checkpoint into a small model with an Adam optimizer, an EMA and a named RNG.
//
// Input: one control byte, then the file.
//   bit 0  set: the driver rewrites the file's last 8 bytes with the FNV-1a-64 of the bytes before
//          them, so mutations get past the checksum (the last whole-file check) and reach the
//          header and data checks; clear: the file as given (the checksum path itself).
//   bit 1  load_checkpoint checks the configuration hash (the model's hash is 0).
//   bit 2  load the model alone (no optimizer, EMA or RNG), as `figs eval` does.
// A malformed file must end in figs::Error. Anything else — another exception type, an
// out-of-bounds read or write, a sanitizer report — is a finding. A load that succeeds must
// agree with read_checkpoint_info on the same file.
//
// FIGS_FUZZ_WRITE_SEEDS=<dir> in the environment: write the seed corpus (checkpoints of the
// model below, saved by save_checkpoint) to <dir> and exit.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "fuzz_util.h"
#include "nn/nn.h"

namespace {

using namespace figs;
using namespace figs::nn;

// The state every input is loaded into. It keeps whatever the last successful load put in it;
// every load is checked against the file, never against an earlier input.
struct State {
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Ema> ema;
  Generator rng{7, 3};

  State() {
    auto net = std::make_shared<Sequential>();
    net->add("conv", std::make_shared<Conv2d>(1, 2, 1, Conv2dOptions{.bias = false}));
    net->add("bn", std::make_shared<BatchNorm2d>(2));
    net->add("flat", std::make_shared<Flatten>());
    net->add("fc", std::make_shared<Linear>(2, 3));
    model = std::make_unique<Model>(net, ModelOptions{.seed = 1});
    optimizer = std::make_unique<Adam>(*model, AdamOptions{.lr = 0.01});
    ema = std::make_unique<Ema>(*model, EmaOptions{.decay = 0.9});
  }

  TrainingState training_state() {
    TrainingState s;
    s.model = model.get();
    s.optimizer = optimizer.get();
    s.ema = ema.get();
    s.rngs = {{"data", &rng}};
    return s;
  }
};

State& state() {
  static State s;
  return s;
}

void write_seeds(const std::string& dir) {
  std::filesystem::create_directories(dir);
  State& st = state();
  TrainingState s = st.training_state();
  s.step = 3;
  s.epoch = 1;
  s.elapsed_seconds = 1.5;
  s.app_state = R"({"dual":0.5})";
  save_checkpoint(dir + "/full.ckpt", s);
  // Without optimizer and EMA (what an evaluation checkpoint holds), no app state.
  TrainingState bare;
  bare.model = st.model.get();
  save_checkpoint(dir + "/model_only.ckpt", bare);
  // Each file prefixed with the control byte (1: fix the checksum) the driver expects.
  for (const char* name : {"full.ckpt", "model_only.ckpt"}) {
    const std::string path = dir + "/" + name;
    std::FILE* in = std::fopen(path.c_str(), "rb");
    std::string bytes(1, '\x01');
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) bytes.append(buf, n);
    std::fclose(in);
    std::FILE* out = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), out);
    std::fclose(out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FIGS_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  std::string file(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((control & 1) && file.size() >= 8) {
    const uint64_t sum = fnv1a64(file.data(), file.size() - 8);
    std::memcpy(file.data() + file.size() - 8, &sum, 8);
  }
  static fuzz::MemFile mem("figs-fuzz-checkpoint");
  const std::string& path = mem.write(file.data(), file.size());

  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);
  } catch (const Error&) {
    // read_checkpoint_info verifies a subset of what load_checkpoint does: a load must fail too.
    TrainingState s = state().training_state();
    bool loaded = true;
    try {
      load_checkpoint(path, s, {.check_config_hash = false});
    } catch (const Error&) {
      loaded = false;
    }
    fuzz::require(!loaded, "load_checkpoint accepted a file read_checkpoint_info rejects");
    return 0;
  }
  // The info's promise (docs/nn.md): every tensor lies inside the data section, which lies
  // between the 64-byte aligned end of the header and the checksum. Checked here in 128 bits,
  // independently of how the reader computes it.
  using u128 = unsigned __int128;
  const u128 data_start = (u128{24} + info.header.size() + 63) / 64 * 64;
  for (const CheckpointTensorInfo& t : info.tensors) {
    fuzz::require(u128{t.nbytes} == u128(t.shape.numel()) * 4, "tensor nbytes != 4 * numel");
    fuzz::require(data_start + t.offset + t.nbytes + 8 <= file.size(), "a tensor lies outside the file's data");
  }

  const bool model_only = (control & 4) != 0;
  TrainingState s = state().training_state();
  if (model_only) {
    s.optimizer = nullptr;
    s.ema = nullptr;
    s.rngs.clear();
  }
  s.step = s.epoch = -1;
  try {
    load_checkpoint(path, s, {.check_config_hash = (control & 2) != 0});
  } catch (const Error&) {
    return 0;
  }
  fuzz::require(s.step == info.step && s.epoch == info.epoch, "loaded step/epoch differ from the file's");
  fuzz::require(s.app_state == info.app_state, "loaded app_state differs from the file's");
  if (!model_only)
    fuzz::require(state().optimizer->step_count() == info.optimizer_step_count, "optimizer step count differs");
  return 0;
}
