// Checkpoints: one file holding a training run's whole state — weights, buffers, optimizer
// state, moving averages, RNG states, step, epoch and a hash of the configuration.
//
// The format is documented byte by byte in docs/nn.md ("Checkpoint format"): magic, version,
// a JSON header listing every tensor (name, dtype, shape, offset), the raw little-endian data,
// and an FNV-1a-64 checksum of everything before it. save_checkpoint writes `path + ".tmp"`,
// flushes it to disk and renames it over `path`, so a crash never leaves a half-written file
// under `path`. load_checkpoint verifies size, checksum, names, shapes and kinds before it
// changes anything, and its error says exactly what does not match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "nn/ema.h"
#include "nn/model.h"
#include "nn/optim/optimizer.h"

namespace figs::nn {

// What a checkpoint saves and what a load restores into. The model is required; the rest is
// optional (a load for evaluation may leave the optimizer out and ignore its state in the file;
// a load that names an optimizer, EMA or RNG requires the file to hold it).
struct TrainingState {
  Model* model = nullptr;
  Optimizer* optimizer = nullptr;  // state tensors, type, step count, lr factor
  Ema* ema = nullptr;              // averages and update count
  std::vector<std::pair<std::string, Generator*>> rngs{};  // (name, generator): seed, stream, offset
  int64_t step = 0;
  int64_t epoch = 0;
  uint64_t config_hash = 0;  // e.g. config_hash(config_text)
  // Wall time the run has trained so far, carried across resumes so that a resumed run reports
  // the time of the whole run. Files written before the field existed load it as 0.
  double elapsed_seconds = 0;
  // State of the caller's own that must change together with the weights (e.g. a budget
  // controller): a JSON object as text, stored in the header; "" when there is none.
  std::string app_state{};
};

struct CheckpointLoadOptions {
  bool check_config_hash = true;  // refuse a file written under another configuration
};

void save_checkpoint(const std::string& path, const TrainingState& state);
// Restores everything `state` points to and sets state.step and state.epoch from the file.
void load_checkpoint(const std::string& path, TrainingState& state, const CheckpointLoadOptions& options = {});

struct CheckpointTensorInfo {
  std::string name;  // "param/<name>", "buffer/<name>", "optim/<state>/<name>", "ema/param/<name>", ...
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t offset = 0;  // bytes from the start of the data section
  uint64_t nbytes = 0;
};

struct CheckpointRngInfo {
  std::string name;
  uint64_t seed = 0, stream = 0, offset = 0;
};

struct CheckpointInfo {
  uint32_t version = 0;
  int64_t step = 0, epoch = 0;
  uint64_t config_hash = 0;
  double elapsed_seconds = 0;
  std::string app_state;  // "" when the file holds none
  std::string optimizer;  // "sgd", "adam", "adamw"; "" when the file holds no optimizer state
  int64_t optimizer_step_count = 0;
  double lr_factor = 1.0;
  bool has_ema = false;
  double ema_decay = 0.0;
  bool ema_include_buffers = false;
  int64_t ema_num_updates = 0;
  std::vector<CheckpointRngInfo> rngs;
  std::vector<CheckpointTensorInfo> tensors;
  std::string header;  // the JSON header as stored
};

// Reads and verifies (size, checksum) a checkpoint's header without restoring anything.
CheckpointInfo read_checkpoint_info(const std::string& path);

// FNV-1a, 64 bits: the checkpoint checksum. Chain calls by passing the previous result.
inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;
uint64_t fnv1a64(const void* data, size_t nbytes, uint64_t hash = kFnv1a64Offset);
inline uint64_t config_hash(std::string_view text) { return fnv1a64(text.data(), text.size()); }

}  // namespace figs::nn
