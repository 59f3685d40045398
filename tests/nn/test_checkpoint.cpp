// Checkpoints: exact round trips, and truncated, corrupted and mismatched files rejected with
// a message that says what is wrong.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

using test::bits;
using test::TrainingRun;
using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Every float of a run's state, bit for bit.
std::vector<std::vector<uint32_t>> everything(const TrainingRun& r) {
  std::vector<std::vector<uint32_t>> out{bits(r.model->params()), bits(r.model->buffers()),
                                         bits(r.ema->shadow_params()), bits(r.ema->shadow_buffers())};
  for (const NamedTensor& t : r.optimizer->state()) out.push_back(bits(t.tensor));
  return out;
}

TEST(NnCheckpoint, RoundTripIsExact) {
  TempDir dir;
  TrainingRun a;
  a.train(3);
  TrainingState saved = a.state();
  saved.step = 3;
  saved.epoch = 1;
  save_checkpoint(dir.file("run.ckpt"), saved);
  EXPECT_FALSE(std::filesystem::exists(dir.file("run.ckpt.tmp")));

  TrainingRun b(true, 3, /*seed=*/99);  // different initial weights, fresh optimizer and EMA
  EXPECT_NE(everything(a), everything(b));
  TrainingState loaded = b.state();
  loaded.step = loaded.epoch = -1;
  load_checkpoint(dir.file("run.ckpt"), loaded);
  EXPECT_EQ(everything(a), everything(b));
  EXPECT_EQ(loaded.step, 3);
  EXPECT_EQ(loaded.epoch, 1);
  EXPECT_EQ(b.optimizer->step_count(), 3);
  EXPECT_EQ(b.optimizer->lr_factor(), a.optimizer->lr_factor());
  EXPECT_EQ(b.ema->num_updates(), 3);
  EXPECT_EQ(b.data.seed(), a.data.seed());
  EXPECT_EQ(b.data.offset(), a.data.offset());
  EXPECT_GT(b.data.offset(), 0u);
}

TEST(NnCheckpoint, CarriesElapsedTimeAndTheCallersState) {
  TempDir dir;
  TrainingRun a;
  a.train(1);
  TrainingState saved = a.state();
  saved.elapsed_seconds = 812.25;
  saved.app_state = R"({"dual":0.5,"updates":[1,2]})";
  save_checkpoint(dir.file("run.ckpt"), saved);
  TrainingRun b(true, 3, 99);
  TrainingState loaded = b.state();
  load_checkpoint(dir.file("run.ckpt"), loaded);
  EXPECT_EQ(loaded.elapsed_seconds, 812.25);
  EXPECT_EQ(loaded.app_state, R"({"dual":0.5,"updates":[1,2]})");
  EXPECT_EQ(read_checkpoint_info(dir.file("run.ckpt")).elapsed_seconds, 812.25);

  saved.app_state = "[1, 2]";
  EXPECT_ERROR_MENTIONS(save_checkpoint(dir.file("bad.ckpt"), saved), "app_state must be a JSON object");
  saved.app_state = "{dual";
  EXPECT_ERROR_MENTIONS(save_checkpoint(dir.file("bad.ckpt"), saved), "app_state is not JSON");
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad.ckpt")));
}

// A file written before elapsed_seconds existed: the same bytes with the key blanked out (JSON
// allows the spaces) and the checksum recomputed. It loads, with no time and no caller state.
TEST(NnCheckpoint, OlderFilesWithoutElapsedTimeLoadAsZero) {
  TempDir dir;
  TrainingRun a;
  a.train(1);
  TrainingState saved = a.state();
  saved.elapsed_seconds = 5.5;
  save_checkpoint(dir.file("new"), saved);
  std::string bytes = slurp(dir.file("new"));
  const std::string key = R"("elapsed_seconds":5.5,)";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, key.size(), std::string(key.size(), ' '));
  const size_t body = bytes.size() - 8;
  const uint64_t sum = fnv1a64(bytes.data(), body);
  bytes.replace(body, 8, reinterpret_cast<const char*>(&sum), 8);  // little-endian host (checked at compile time)
  spit(dir.file("old"), bytes);

  TrainingRun b(true, 3, 99);
  TrainingState loaded = b.state();
  loaded.elapsed_seconds = -1;
  loaded.app_state = "stale";
  load_checkpoint(dir.file("old"), loaded);
  EXPECT_EQ(loaded.elapsed_seconds, 0);
  EXPECT_EQ(loaded.app_state, "");
  EXPECT_EQ(everything(a), everything(b));
}

TEST(NnCheckpoint, HeaderDescribesEveryTensor) {
  TempDir dir;
  TrainingRun a;
  a.train(1);
  save_checkpoint(dir.file("c"), a.state(config_hash("lr=0.01")));
  const CheckpointInfo info = read_checkpoint_info(dir.file("c"));
  EXPECT_EQ(info.version, 1u);
  EXPECT_EQ(info.config_hash, config_hash("lr=0.01"));
  EXPECT_EQ(info.optimizer, "adam");
  EXPECT_EQ(info.optimizer_step_count, 1);
  EXPECT_TRUE(info.has_ema);
  EXPECT_EQ(info.ema_num_updates, 1);
  ASSERT_EQ(info.rngs.size(), 1u);
  EXPECT_EQ(info.rngs[0].name, "data");
  EXPECT_EQ(info.rngs[0].stream, 5u);
  const size_t P = a.model->param_slots().size(), B = a.model->buffer_slots().size();
  // params, buffers, two Adam moments per param, EMA of params and buffers
  EXPECT_EQ(info.tensors.size(), P + B + 2 * P + P + B);
  EXPECT_EQ(info.tensors[0].name, "param/stem.conv.weight");
  EXPECT_EQ(info.tensors[0].shape, Shape({8, 1, 3, 3}));
  EXPECT_EQ(info.tensors[0].offset, 0u);
  EXPECT_EQ(info.tensors[0].nbytes, 72u * 4);
  EXPECT_EQ(info.tensors[1].offset, 320u);  // 288 bytes, then aligned to 64
  bool found = false;
  for (const CheckpointTensorInfo& t : info.tensors) found = found || t.name == "optim/exp_avg_sq/fc.bias";
  EXPECT_TRUE(found);
  EXPECT_NE(info.header.find(R"("format":"figs-checkpoint")"), std::string::npos) << info.header;
  EXPECT_EQ(slurp(dir.file("c")).substr(0, 8), "FIGSCKPT");
}

TEST(NnCheckpoint, TruncatedFilesAreRejected) {
  TempDir dir;
  TrainingRun a;
  save_checkpoint(dir.file("full"), a.state());
  const std::string bytes = slurp(dir.file("full"));
  for (size_t size : {size_t{0}, size_t{10}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    spit(dir.file("cut"), bytes.substr(0, size));
    TrainingRun b;
    TrainingState s = b.state();
    EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("cut"), s), "is truncated");
  }
  spit(dir.file("long"), bytes + "x");
  TrainingRun b;
  TrainingState s = b.state();
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("long"), s), "1 unexpected bytes after its checksum");
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("does-not-exist"), s), "cannot open");
}

TEST(NnCheckpoint, CorruptedFilesAreRejectedAndNothingChanges) {
  TempDir dir;
  TrainingRun a;
  a.train(1);
  save_checkpoint(dir.file("good"), a.state());
  const std::string bytes = slurp(dir.file("good"));
  TrainingRun b(true, 3, 7);
  const auto before = everything(b);

  std::string data_flip = bytes;
  data_flip[bytes.size() - 100] ^= 0x01;  // one bit of the last tensor
  spit(dir.file("bad"), data_flip);
  TrainingState s = b.state();
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "is corrupted: checksum mismatch");

  std::string header_flip = bytes;
  const size_t at = header_flip.find("\"step\":") + 7;
  header_flip[at] = header_flip[at] == '1' ? '2' : '1';  // a plausible but wrong step
  spit(dir.file("bad"), header_flip);
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "is corrupted: checksum mismatch");

  std::string checksum_flip = bytes;
  checksum_flip.back() ^= 0x40;
  spit(dir.file("bad"), checksum_flip);
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "checksum mismatch");

  std::string magic = bytes;
  magic[0] = 'X';
  spit(dir.file("bad"), magic);
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "is not a figs checkpoint");

  std::string version = bytes;
  version[8] = 2;
  spit(dir.file("bad"), version);
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "has format version 2; this build reads version 1");

  EXPECT_EQ(everything(b), before);  // failed loads leave everything as it was
}

// `bytes` (a checkpoint) with `from` in its header replaced by `to`: header length, padding and
// checksum rewritten, so only the header's content is wrong.
std::string with_header_edit(const std::string& bytes, const std::string& from, const std::string& to) {
  uint64_t h = 0;
  std::memcpy(&h, bytes.data() + 16, 8);
  std::string header = bytes.substr(24, h);
  const size_t at = header.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  header.replace(at, from.size(), to);
  const auto align = [](size_t n) { return (n + 63) / 64 * 64; };
  const std::string data = bytes.substr(align(24 + h), bytes.size() - 8 - align(24 + h));
  std::string out = bytes.substr(0, 16);
  const uint64_t len = header.size();
  out.append(reinterpret_cast<const char*>(&len), 8);
  out += header;
  out.resize(align(out.size()), '\0');
  out += data;
  const uint64_t sum = fnv1a64(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&sum), 8);
  return out;
}

// Found by tests/fuzz/fuzz_checkpoint: an offset whose sum with nbytes wraps around 2^64 passed
// the "fits the data section" check (and the load then copied from before the data), a shape
// whose product overflows int64 was multiplied unchecked, a floating-point number in an integer
// field was cast (undefined out of range), and deep nesting overflowed the stack.
TEST(NnCheckpoint, HeadersWhoseArithmeticWrapsAreRejected) {
  TempDir dir;
  TrainingRun a;
  save_checkpoint(dir.file("good"), a.state());
  const std::string bytes = slurp(dir.file("good"));
  ASSERT_NE(bytes.find(R"("offset":0,"nbytes":288})"), std::string::npos);  // stem.conv.weight, 8x1x3x3
  TrainingRun b(true, 3, 7);
  const auto before = everything(b);
  TrainingState s = b.state();

  spit(dir.file("bad"), with_header_edit(bytes, R"("offset":0,"nbytes":288})",
                                         R"("offset":18446744073709551328,"nbytes":288})"));  // 2^64 - 288
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "does not fit the data section");
  EXPECT_ERROR_MENTIONS(read_checkpoint_info(dir.file("bad")), "does not fit the data section");

  spit(dir.file("bad"), with_header_edit(bytes, R"("shape":[8,1,3,3])", R"("shape":[4294967296,4294967296,8,1])"));
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "a negative or too large dimension");
  spit(dir.file("bad"), with_header_edit(bytes, R"("shape":[8,1,3,3])", R"("shape":[-8,-1,3,3])"));
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "a negative or too large dimension");

  // A number beyond 2^64 parses as a double, which nlohmann would cast to an integer (undefined).
  spit(dir.file("bad"), with_header_edit(bytes, R"("offset":0,"nbytes":288})",
                                         R"("offset":18446744073709558608,"nbytes":288})"));
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "\"offset\" must be an integer >= 0 of at most 64 bits");
  // Nesting that dumping back to text (app_state) would follow recursively until the stack ends.
  spit(dir.file("bad"), with_header_edit(bytes, R"("format":"figs-checkpoint",)",
                                         R"("format":"figs-checkpoint","deep":)" + std::string(200000, '[') +
                                             std::string(200000, ']') + ","));
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("bad"), s), "has an invalid header");

  EXPECT_EQ(everything(b), before);
}

TEST(NnCheckpoint, MismatchedModelsSayWhatDiffers) {
  TempDir dir;
  TrainingRun three;
  save_checkpoint(dir.file("three"), three.state());

  TrainingRun four(true, 4);  // fc has 4 outputs
  TrainingState s4 = four.state();
  const std::string msg = figs::test::error_of([&] { load_checkpoint(dir.file("three"), s4); });
  EXPECT_NE(msg.find("does not match this run"), std::string::npos) << msg;
  EXPECT_NE(msg.find("param/fc.weight: file [3,16], model [4,16]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("param/fc.bias: file [3], model [4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("optim/exp_avg/fc.weight: file [3,16], model [4,16]"), std::string::npos) << msg;

  // A model with an extra layer: its tensors are missing from the file ...
  auto bigger = test::small_cnn();
  bigger->add("head", std::make_shared<Linear>(3, 2));
  Model big(bigger);
  TrainingState sb;
  sb.model = &big;
  sb.config_hash = 0x5eed;
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("three"), sb),
                        "2 tensor(s) missing from the file: param/head.weight, param/head.bias");
  // ... and the other way round, the file holds tensors the model lacks.
  save_checkpoint(dir.file("big"), sb);
  TrainingState s3 = three.state();
  s3.optimizer = nullptr;
  s3.ema = nullptr;
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("big"), s3),
                        "2 tensor(s) in the file but not in the model: param/head.weight, param/head.bias");
  // ... and asking for optimizer state and averages the file does not have.
  s3 = three.state();
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("big"), s3), "the file holds no optimizer state (expected adam)");
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("big"), s3), "the file holds no moving averages");
}

TEST(NnCheckpoint, ConfigurationOptimizerAndRngMismatches) {
  TempDir dir;
  TrainingRun adam;
  save_checkpoint(dir.file("c"), adam.state(config_hash("lr=0.01")));

  TrainingRun again;
  TrainingState s = again.state(config_hash("lr=0.02"));
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("c"), s), "configuration hash differs (file ");
  EXPECT_NO_THROW(load_checkpoint(dir.file("c"), s, {.check_config_hash = false}));

  TrainingRun sgd(false);
  TrainingState t = sgd.state(config_hash("lr=0.01"));
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("c"), t), "optimizer is adam in the file, sgd here");

  Generator aug(3, 9);
  TrainingState u = again.state(config_hash("lr=0.01"));
  u.rngs.push_back({"augment", &aug});
  EXPECT_ERROR_MENTIONS(load_checkpoint(dir.file("c"), u), "RNG state missing from the file: augment");

  // Evaluation loads only the model and ignores the training state in the file.
  TrainingRun eval(true, 3, 5);
  TrainingState e;
  e.model = eval.model.get();
  e.config_hash = config_hash("lr=0.01");
  load_checkpoint(dir.file("c"), e);
  EXPECT_EQ(bits(eval.model->params()), bits(adam.model->params()));
}

TEST(NnCheckpoint, WritesAtomically) {
  TempDir dir;
  TrainingRun a;
  const std::string path = dir.file("ckpt");
  save_checkpoint(path, a.state());
  const std::string first = slurp(path);
  a.train(1);
  save_checkpoint(path, a.state());  // replaces the file
  EXPECT_NE(slurp(path), first);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  // When the temporary file cannot be written, the previous checkpoint stays intact.
  const std::string second = slurp(path);
  std::filesystem::create_directory(path + ".tmp");
  EXPECT_ERROR_MENTIONS(save_checkpoint(path, a.state()), "save_checkpoint: cannot open '" + path + ".tmp'");
  EXPECT_EQ(slurp(path), second);
}

TEST(NnCheckpoint, RefusesAppliedAveragesAndMissingModel) {
  TempDir dir;
  TrainingRun a;
  TrainingState s = a.state();
  a.ema->apply();
  EXPECT_ERROR_MENTIONS(save_checkpoint(dir.file("c"), s), "the EMA averages are applied to the model");
  a.ema->restore();
  TrainingState none;
  EXPECT_ERROR_MENTIONS(save_checkpoint(dir.file("c"), none), "TrainingState.model is required");
}

TEST(NnCheckpoint, Fnv1a64KnownAnswers) {
  // Published test vectors of FNV-1a 64.
  EXPECT_EQ(fnv1a64("", 0), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar", 6), 0x85944171f73967e8ull);
  EXPECT_EQ(config_hash("foobar"), 0x85944171f73967e8ull);
}

}  // namespace
}  // namespace figs::nn
