#include "nn/summary.h"

#include <algorithm>
#include <unordered_map>

#include "core/autograd_meta.h"

namespace figs::nn {

namespace {

class Recorder : public ForwardObserver {
 public:
  explicit Recorder(std::unordered_map<const Module*, std::string> names) : names_(std::move(names)) {}

  void after(const Module& m, const Tensor& input, const Tensor& output) override {
    if (!m.named_children().empty()) return;
    auto it = names_.find(&m);
    LayerSummary row;
    row.name = it == names_.end() ? "?" : it->second;
    row.type = m.type_name();
    row.input_shape = input.shape();
    row.output_shape = output.shape();
    for (const NamedTensor& p : m.named_parameters(false)) row.params += p.tensor.numel();
    row.macs = m.macs(input.shape(), output.shape());
    rows.push_back(std::move(row));
  }

  std::vector<LayerSummary> rows;

 private:
  std::unordered_map<const Module*, std::string> names_;
};

// 1234567 -> "1,234,567"
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

}  // namespace

ModelSummary summarize(Module& root, const Shape& input_shape) {
  std::unordered_map<const Module*, std::string> names;
  std::vector<std::pair<Module*, bool>> modes;
  for (const NamedModule& m : root.named_modules()) {
    names.emplace(m.module, m.name.empty() ? "(root)" : m.name);
    modes.emplace_back(m.module, m.module->is_training());
  }
  Recorder recorder(std::move(names));
  Tensor output;
  root.eval();
  try {
    NoGradGuard no_grad;
    ObserveForwards observe(&recorder);
    // The input goes where the parameters are (a Model moved with Model::to).
    const std::vector<NamedTensor> params = root.named_parameters();
    const Device device = params.empty() ? Device::cpu() : params.front().tensor.device();
    output = root(zeros(input_shape, {DType::Float32, device}));
  } catch (...) {
    for (auto& [m, training] : modes) m->train(training);
    throw;
  }
  // train() recurses, so restore parents first and children after (pre-order).
  for (auto& [m, training] : modes) m->train(training);

  ModelSummary s;
  s.layers = std::move(recorder.rows);
  s.input_shape = input_shape;
  s.output_shape = output.shape();
  s.total_params = root.num_parameters();
  for (const LayerSummary& l : s.layers) s.total_macs += l.macs;
  return s;
}

std::string ModelSummary::str() const {
  std::vector<std::vector<std::string>> rows{{"layer", "type", "output shape", "params", "MACs"}};
  for (const LayerSummary& l : layers)
    rows.push_back({l.name, l.type, l.output_shape.str(), grouped(l.params), grouped(l.macs)});
  rows.push_back({"total", "", output_shape.str(), grouped(total_params), grouped(total_macs)});
  std::vector<size_t> width(5, 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::string out = str_cat("input ", input_shape.str(), "\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 == rows.size()) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
    for (size_t c = 0; c < rows[i].size(); ++c) {
      const std::string& cell = rows[i][c];
      const std::string pad(width[c] - cell.size(), ' ');
      out += c >= 3 ? pad + cell : cell + pad;  // numbers right-aligned
      out += c + 1 < rows[i].size() ? "  " : "\n";
    }
  }
  return out;
}

}  // namespace figs::nn
