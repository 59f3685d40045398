// The checkpoint file format (docs/nn.md, "Checkpoint format"):
//
//   [0, 8)        magic "FIGSCKPT"
//   [8, 12)       uint32 format version (1)
//   [12, 16)      uint32 reserved, 0
//   [16, 24)      uint64 H: header length in bytes
//   [24, 24 + H)  JSON header (UTF-8)
//   zero padding up to D = the next multiple of 64
//   [D, D + B)    tensor data: each tensor's elements, row-major, little-endian, at D + offset
//                 (offsets 64-byte aligned, zero padding between), B = header "data_bytes"
//   [D + B, +8)   uint64 FNV-1a-64 of every byte before it
// Every integer is little-endian.
#include "nn/checkpoint.h"

#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "core/view.h"

namespace figs::nn {

static_assert(std::endian::native == std::endian::little,
              "checkpoints store little-endian data by copying memory; add byte swapping for this host");

uint64_t fnv1a64(const void* data, size_t nbytes, uint64_t hash) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < nbytes; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr char kMagic[8] = {'F', 'I', 'G', 'S', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;
constexpr size_t kPrefixBytes = 24;  // magic, version, reserved, header length
constexpr size_t kChecksumBytes = 8;
constexpr uint64_t kDataAlignment = 64;
constexpr int kMaxHeaderDepth = 64;  // the format uses 4 levels; app_state has the rest

uint64_t align64(uint64_t n) { return (n + kDataAlignment - 1) / kDataAlignment * kDataAlignment; }

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <class T>
T get(const std::string& in, size_t at) {
  T value;
  std::memcpy(&value, in.data() + at, sizeof(T));
  return value;
}

// An integer of the header. nlohmann's get<integer>() converts a floating-point JSON number (1e30,
// or 18446744073709551616, which parses as a double) with a plain cast, undefined behaviour out
// of range: an integer field must be a JSON integer that fits T.
template <class T>
T as_integer(const json& v, const char* what) {
  const bool fits = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                        : v.is_number_integer() && std::is_signed_v<T>;
  FIGS_CHECK(fits, "\"", what, "\" must be an integer", std::is_signed_v<T> ? "" : " >= 0", " of at most ",
             sizeof(T) * 8, " bits, got ", v.is_primitive() ? v.dump() : std::string(v.type_name()));
  return v.get<T>();
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Host memory for the arenas a checkpoint reads or writes: a CPU arena is used in place; a
// device arena (Note [Parameter arenas]: a model moved with Model::to, and the optimizer state
// and EMA that live with it) is copied to the host once, and after a load copied back whole
// (its untouched elements, padding included, go back unchanged).
class HostArenas {
 public:
  float* data(const Tensor& arena) {
    if (arena.device().is_cpu()) return arena.data<float>();
    for (const auto& [live, host] : staged_)
      if (live.same_as(arena)) return host.data<float>();
    staged_.emplace_back(arena, raw::to(arena, Device::cpu()));
    return staged_.back().second.data<float>();
  }
  void write_back() const {
    for (const auto& [live, host] : staged_) raw::copy_(live, host);
  }

 private:
  std::vector<std::pair<Tensor, Tensor>> staged_;  // (device arena, its host copy)
};

// A tensor of the checkpoint, seen as a float range in host memory.
struct Entry {
  std::string name;
  Shape shape;
  float* data;  // numel() floats, contiguous
};

// Everything `state` covers, in file order. `with_*` select the optional parts. Each slot is
// its arena's range [offset, offset + numel).
std::vector<Entry> entries_of(const TrainingState& state, bool with_optimizer, bool with_ema, HostArenas& host) {
  std::vector<Entry> out;
  const Model& model = *state.model;
  auto add = [&](const std::string& prefix, const std::vector<ArenaSlot>& slots, const Tensor& arena) {
    if (slots.empty()) return;
    float* base = host.data(arena);
    for (const ArenaSlot& s : slots) out.push_back({prefix + s.name, s.tensor.shape(), base + s.offset});
  };
  add("param/", model.param_slots(), model.params());
  add("buffer/", model.buffer_slots(), model.buffers());
  if (with_optimizer && state.optimizer)
    for (const NamedTensor& st : state.optimizer->state()) add("optim/" + st.name + "/", model.param_slots(), st.tensor);
  if (with_ema && state.ema) {
    add("ema/param/", model.param_slots(), state.ema->shadow_params());
    if (state.ema->options().include_buffers) add("ema/buffer/", model.buffer_slots(), state.ema->shadow_buffers());
  }
  return out;
}

void check_state(const char* op, const TrainingState& state) {
  FIGS_CHECK(state.model != nullptr, op, ": TrainingState.model is required");
  FIGS_CHECK(!state.ema || &state.ema->model() == state.model, op, ": the EMA belongs to another model");
  FIGS_CHECK(!state.ema || !state.ema->applied(), op,
             ": the EMA averages are applied to the model; restore() them first");
  const Device device = state.model->device();
  if (state.optimizer)
    for (const NamedTensor& st : state.optimizer->state())
      FIGS_CHECK(st.tensor.device() == device, op, ": the model is on ", device, " but the optimizer state '",
                 st.name, "' is on ", st.tensor.device(), " (the model moved after the optimizer was built)");
  FIGS_CHECK(!state.ema || state.ema->shadow_params().device() == device, op, ": the model is on ", device,
             " but the EMA averages are on ", state.ema ? state.ema->shadow_params().device() : device,
             " (the model moved after the Ema was built)");
  for (const auto& [name, gen] : state.rngs) FIGS_CHECK(gen != nullptr, op, ": RNG '", name, "' is null");
}


std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FIGS_CHECK(in.good(), "load_checkpoint: cannot open '", path, "': ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  FIGS_CHECK(!in.bad(), "load_checkpoint: reading '", path, "' failed");
  return bytes;
}

// A parsed and verified file: header JSON plus where the data starts.
struct Parsed {
  json header;
  uint64_t data_start = 0;
  uint64_t data_bytes = 0;
  uint32_t version = 0;
  std::string header_text;
};

// Size, magic, version, header, checksum: everything that does not depend on the model.
Parsed parse(const std::string& path, const std::string& bytes) {
  const std::string where = "checkpoint '" + path + "'";
  FIGS_CHECK(bytes.size() >= kPrefixBytes + kChecksumBytes, where, " is truncated: ", bytes.size(),
             " bytes, fewer than the ", kPrefixBytes + kChecksumBytes, " of an empty checkpoint");
  FIGS_CHECK(std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0, where,
             " is not a figs checkpoint (its first 8 bytes are not \"FIGSCKPT\")");
  Parsed p;
  p.version = get<uint32_t>(bytes, 8);
  FIGS_CHECK(p.version == kVersion, where, " has format version ", p.version, "; this build reads version ", kVersion);
  const uint64_t header_len = get<uint64_t>(bytes, 16);
  FIGS_CHECK(header_len <= bytes.size() - kPrefixBytes - kChecksumBytes, where, " is truncated: ", bytes.size(),
             " bytes cannot hold its ", header_len, "-byte header");
  p.header_text = bytes.substr(kPrefixBytes, header_len);
  p.data_start = align64(kPrefixBytes + header_len);

  // The header says how long the file must be; compare before the checksum so a cut-off file
  // is reported as truncated rather than corrupted.
  bool header_ok = true;
  try {
    // Nesting is bounded: nlohmann parses iteratively but dumps recursively (app_state is dumped
    // back to text), so a header of a few hundred thousand '[' would overflow the stack.
    p.header = json::parse(p.header_text, [](int depth, json::parse_event_t, json&) {
      FIGS_CHECK(depth <= kMaxHeaderDepth, "the header nests deeper than ", kMaxHeaderDepth, " levels");
      return true;
    });
    p.data_bytes = as_integer<uint64_t>(p.header.at("data_bytes"), "data_bytes");
  } catch (const std::exception&) {  // json errors and as_integer's
    header_ok = false;
  }
  if (header_ok) {
    // data_bytes first on its own: a huge value must not wrap `expected` around to the real size
    // (data_start is at most 63 bytes past the file's end, so the sum below cannot overflow).
    FIGS_CHECK(p.data_bytes <= bytes.size(), where, " is truncated: ", bytes.size(), " bytes, its header describes ",
               p.data_bytes, " bytes of tensor data");
    const uint64_t expected = p.data_start + p.data_bytes + kChecksumBytes;
    FIGS_CHECK(bytes.size() >= expected, where, " is truncated: ", bytes.size(), " bytes, its header describes ",
               expected);
    FIGS_CHECK(bytes.size() == expected, where, " has ", bytes.size() - expected,
               " unexpected bytes after its checksum (", bytes.size(), " bytes, its header describes ", expected, ")");
  }
  const size_t body = bytes.size() - kChecksumBytes;
  const uint64_t stored = get<uint64_t>(bytes, body), computed = fnv1a64(bytes.data(), body);
  FIGS_CHECK(stored == computed, where, " is corrupted: checksum mismatch (stored ", hex(stored), ", computed ",
             hex(computed), ")");
  FIGS_CHECK(header_ok, where, " has an invalid header (not JSON with a \"data_bytes\" field)");
  return p;
}

CheckpointInfo info_of(const Parsed& p) {
  CheckpointInfo info;
  const json& h = p.header;
  info.version = p.version;
  info.header = p.header_text;
  info.step = as_integer<int64_t>(h.at("step"), "step");
  info.epoch = as_integer<int64_t>(h.at("epoch"), "epoch");
  const std::string hash = h.at("config_hash").get<std::string>();
  FIGS_CHECK(hash.size() == 16 && hash.find_first_not_of("0123456789abcdef") == std::string::npos,
             "config_hash is not 16 hex digits: '", hash, "'");
  info.config_hash = std::stoull(hash, nullptr, 16);
  info.elapsed_seconds = h.value("elapsed_seconds", 0.0);  // optional: absent in older files
  if (h.contains("app_state")) info.app_state = h.at("app_state").dump();
  if (const json& o = h.at("optimizer"); !o.is_null()) {
    info.optimizer = o.at("type").get<std::string>();
    info.optimizer_step_count = as_integer<int64_t>(o.at("step_count"), "step_count");
    info.lr_factor = o.at("lr_factor").get<double>();
  }
  if (const json& e = h.at("ema"); !e.is_null()) {
    info.has_ema = true;
    info.ema_decay = e.at("decay").get<double>();
    info.ema_include_buffers = e.at("include_buffers").get<bool>();
    info.ema_num_updates = as_integer<int64_t>(e.at("num_updates"), "num_updates");
  }
  for (const json& r : h.at("rng"))
    info.rngs.push_back({r.at("name").get<std::string>(), as_integer<uint64_t>(r.at("seed"), "seed"),
                         as_integer<uint64_t>(r.at("stream"), "stream"), as_integer<uint64_t>(r.at("offset"), "offset")});
  for (const json& t : h.at("tensors")) {
    CheckpointTensorInfo ti;
    ti.name = t.at("name").get<std::string>();
    const std::string dtype = t.at("dtype").get<std::string>();
    FIGS_CHECK(dtype == "float32", "tensor '", ti.name, "' has dtype ", dtype, "; only float32 is stored");
    const json& shape = t.at("shape");
    FIGS_CHECK(shape.is_array(), "tensor '", ti.name, "': \"shape\" must be an array, got ", shape.type_name());
    for (const json& d : shape) ti.shape.push_back(as_integer<int64_t>(d, "shape"));
    // Dimensions are checked before anything multiplies them (Dims::numel does not check), and
    // offset + nbytes is compared without forming the sum: either could wrap around and let a
    // tensor point outside the data section.
    int64_t numel = 1;
    for (const int64_t d : ti.shape)
      FIGS_CHECK(d >= 0 && !__builtin_mul_overflow(numel, d, &numel), "tensor '", ti.name, "' has shape ", ti.shape,
                 ": a negative or too large dimension");
    ti.offset = as_integer<uint64_t>(t.at("offset"), "offset");
    ti.nbytes = as_integer<uint64_t>(t.at("nbytes"), "nbytes");
    FIGS_CHECK(static_cast<uint64_t>(numel) <= p.data_bytes / 4 && ti.nbytes == static_cast<uint64_t>(numel) * 4 &&
                   ti.offset <= p.data_bytes && ti.nbytes <= p.data_bytes - ti.offset,
               "tensor '", ti.name, "' (shape ", ti.shape, ", ", ti.nbytes, " bytes at ", ti.offset,
               ") does not fit the data section of ", p.data_bytes, " bytes");
    info.tensors.push_back(std::move(ti));
  }
  return info;
}

// info_of, with any defect of the header reported as one error naming the file.
CheckpointInfo checked_info(const std::string& path, const Parsed& p) {
  try {
    return info_of(p);
  } catch (const std::exception& e) {  // json errors and the checks above
    fail("checkpoint '", path, "' has a malformed header: ", e.what());
  }
}

// "a, b, c" with at most `limit` items, then "... (N more)".
std::string list(const std::vector<std::string>& items, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += str_cat(", ... (", items.size() - limit, " more)");
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state) {
  check_state("save_checkpoint", state);
  HostArenas host;
  const std::vector<Entry> entries = entries_of(state, true, true, host);

  ordered_json h;
  h["format"] = "figs-checkpoint";
  h["version"] = kVersion;
  h["step"] = state.step;
  h["epoch"] = state.epoch;
  h["config_hash"] = hex(state.config_hash);
  h["elapsed_seconds"] = state.elapsed_seconds;
  if (!state.app_state.empty()) {
    ordered_json app;
    try {
      app = ordered_json::parse(state.app_state);
    } catch (const std::exception& e) {
      fail("save_checkpoint: TrainingState.app_state is not JSON (", e.what(), ")");
    }
    FIGS_CHECK(app.is_object(), "save_checkpoint: TrainingState.app_state must be a JSON object, got ", state.app_state);
    h["app_state"] = std::move(app);
  }
  h["rng"] = json::array();
  for (const auto& [name, gen] : state.rngs)
    h["rng"].push_back({{"name", name}, {"seed", gen->seed()}, {"stream", gen->stream()}, {"offset", gen->offset()}});
  if (state.optimizer) {
    h["optimizer"] = {{"type", state.optimizer->name()},
                      {"step_count", state.optimizer->step_count()},
                      {"lr_factor", state.optimizer->lr_factor()}};
  } else {
    h["optimizer"] = nullptr;
  }
  if (state.ema) {
    h["ema"] = {{"decay", state.ema->options().decay},
                {"include_buffers", state.ema->options().include_buffers},
                {"num_updates", state.ema->num_updates()}};
  } else {
    h["ema"] = nullptr;
  }
  uint64_t offset = 0;
  h["tensors"] = json::array();
  for (const Entry& e : entries) {
    const uint64_t nbytes = static_cast<uint64_t>(e.shape.numel()) * sizeof(float);
    h["tensors"].push_back(
        {{"name", e.name}, {"dtype", "float32"}, {"shape", e.shape.vec()}, {"offset", offset}, {"nbytes", nbytes}});
    offset = align64(offset + nbytes);
  }
  h["data_bytes"] = offset;
  const std::string header = h.dump();

  std::string bytes;
  const uint64_t data_start = align64(kPrefixBytes + header.size());
  bytes.reserve(data_start + offset + kChecksumBytes);
  bytes.append(kMagic, sizeof(kMagic));
  put<uint32_t>(bytes, kVersion);
  put<uint32_t>(bytes, 0);
  put<uint64_t>(bytes, header.size());
  bytes += header;
  bytes.resize(data_start, '\0');
  for (const Entry& e : entries) {
    if (e.shape.numel() > 0) bytes.append(reinterpret_cast<const char*>(e.data), e.shape.numel() * sizeof(float));
    bytes.resize(align64(bytes.size() - data_start) + data_start, '\0');
  }
  put<uint64_t>(bytes, fnv1a64(bytes.data(), bytes.size()));
  write_file_atomically(path, bytes, "save_checkpoint: ");
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  const std::string bytes = read_file(path);
  return checked_info(path, parse(path, bytes));
}

void load_checkpoint(const std::string& path, TrainingState& state, const CheckpointLoadOptions& options) {
  check_state("load_checkpoint", state);
  const std::string bytes = read_file(path);
  const Parsed parsed = parse(path, bytes);
  const CheckpointInfo info = checked_info(path, parsed);
  const std::string where = "load_checkpoint: '" + path + "'";

  // --- everything that must match, collected into one message ---------------------------------
  std::vector<std::string> problems;
  if (options.check_config_hash && info.config_hash != state.config_hash)
    problems.push_back(str_cat("configuration hash differs (file ", hex(info.config_hash), ", expected ",
                               hex(state.config_hash), ")"));
  if (state.optimizer) {
    if (info.optimizer.empty())
      problems.push_back(str_cat("the file holds no optimizer state (expected ", state.optimizer->name(), ")"));
    else if (info.optimizer != state.optimizer->name())
      problems.push_back(str_cat("optimizer is ", info.optimizer, " in the file, ", state.optimizer->name(), " here"));
  }
  if (state.ema) {
    if (!info.has_ema)
      problems.push_back("the file holds no moving averages (expected an EMA)");
    else if (info.ema_include_buffers != state.ema->options().include_buffers)
      problems.push_back(str_cat("the EMA ", info.ema_include_buffers ? "averages" : "does not average",
                                 " buffers in the file but ", state.ema->options().include_buffers ? "does" : "does not",
                                 " here"));
  }
  std::map<std::string, const CheckpointRngInfo*> file_rngs;
  for (const CheckpointRngInfo& r : info.rngs) file_rngs[r.name] = &r;
  std::vector<std::string> missing_rngs;
  for (const auto& [name, gen] : state.rngs)
    if (!file_rngs.count(name)) missing_rngs.push_back(name);
  if (!missing_rngs.empty()) problems.push_back("RNG state missing from the file: " + list(missing_rngs));

  const bool load_optimizer = state.optimizer && !info.optimizer.empty();
  const bool load_ema = state.ema && info.has_ema;
  HostArenas host;
  const std::vector<Entry> entries = entries_of(state, load_optimizer, load_ema, host);
  std::map<std::string, const CheckpointTensorInfo*> in_file;
  for (const CheckpointTensorInfo& t : info.tensors) in_file[t.name] = &t;
  std::vector<std::string> missing, mismatched, unexpected;
  std::map<std::string, const Entry*> wanted;
  for (const Entry& e : entries) {
    wanted[e.name] = &e;
    auto it = in_file.find(e.name);
    if (it == in_file.end())
      missing.push_back(e.name);
    else if (it->second->shape != e.shape)
      mismatched.push_back(str_cat(e.name, ": file ", it->second->shape, ", model ", e.shape));
  }
  auto loaded_kind = [&](const std::string& name) {
    return name.starts_with("param/") || name.starts_with("buffer/") || (load_optimizer && name.starts_with("optim/")) ||
           (load_ema && name.starts_with("ema/"));
  };
  for (const CheckpointTensorInfo& t : info.tensors)
    if (loaded_kind(t.name) && !wanted.count(t.name)) unexpected.push_back(t.name);
  if (!missing.empty()) problems.push_back(str_cat(missing.size(), " tensor(s) missing from the file: ", list(missing)));
  if (!unexpected.empty())
    problems.push_back(str_cat(unexpected.size(), " tensor(s) in the file but not in the model: ", list(unexpected)));
  if (!mismatched.empty())
    problems.push_back(str_cat(mismatched.size(), " shape mismatch(es): ", list(mismatched)));
  if (!problems.empty()) {
    std::string message = where + " does not match this run: ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    fail(message);
  }

  // --- all checks passed: restore ----------------------------------------------------------------
  const char* data = bytes.data() + parsed.data_start;
  for (const CheckpointTensorInfo& t : info.tensors) {
    auto it = wanted.find(t.name);
    if (it != wanted.end() && t.nbytes > 0) std::memcpy(it->second->data, data + t.offset, t.nbytes);
  }
  host.write_back();
  if (load_optimizer) {
    state.optimizer->set_step_count(info.optimizer_step_count);
    state.optimizer->set_lr_factor(info.lr_factor);
  }
  if (load_ema) state.ema->set_num_updates(info.ema_num_updates);
  for (auto& [name, gen] : state.rngs) {
    const CheckpointRngInfo& r = *file_rngs.at(name);
    *gen = Generator(r.seed, r.stream);
    gen->set_offset(r.offset);
  }
  state.step = info.step;
  state.epoch = info.epoch;
  state.elapsed_seconds = info.elapsed_seconds;
  state.app_state = info.app_state;
}

}  // namespace figs::nn
