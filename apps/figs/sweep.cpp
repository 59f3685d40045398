// `figs sweep`: a grid of runs (method x budget x seed) in one study folder, one CSV row per
// run, Pareto plots (docs/cli.md, "figs sweep"). Every run is an ordinary run folder, so a sweep
// that was stopped continues where it stopped: finished runs are skipped, a started one resumes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "core/atomic_file.h"
#include "core/distributed.h"
#include "core/json_reader.h"
#include "nas/budget_match.h"
#include "nas/channel_graph.h"
#include "nas/baselines/width_multiplier.h"
#include "run_folder.h"
#include "run_log.h"
#include "drivers.h"

namespace figs::app {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kMethods = {"figs", "morphnet", "width", "random"};

std::string run_name(const std::string& method, int64_t budget, int64_t seed) {
  return method + "-" + std::to_string(budget) + "-s" + std::to_string(seed);
}

// The configuration of one run of the grid: the sweep's base with the method, budget and seed.
json run_config(const json& base, const std::string& method, int64_t budget, int64_t seed) {
  json c = base;
  c.erase("sweep");
  c["seed"] = seed;
  c["search"]["target"] = budget;
  if (method == "figs" || method == "morphnet") c["search"]["method"] = method;
  return c;
}

// Width multiplier and random search have no search stage: their architecture is matched to
// the budget directly (nas/budget_match.h).
nas::Architecture baseline_architecture(const json& config, const std::string& method) {
  const auto space = make_space_from_config(config);
  const nas::CostKind kind = config["search"]["cost"] == "macs" ? nas::CostKind::Macs : nas::CostKind::Params;
  const double target = config["search"]["target"].get<double>();
  const uint64_t seed = config["seed"].get<uint64_t>();
  const nas::BudgetMatch m = method == "width" ? nas::match_width_multiplier(*space, kind, target)
                                               : nas::match_random_architecture(*space, kind, target, seed);
  json source{{"method", method == "width" ? "width_multiplier" : "random_search"}, {"multiplier", m.multiplier},
              {"target", target}, {"cost", nas::cost_kind_name(kind)}, {"seed", seed}};
  if (method == "random") {
    source["removed_operators"] = m.removed_operators;
    source["sample_index"] = m.index;
  }
  return nas::describe_architecture(*space, m.widths, source.dump());
}

struct Row {
  std::string method, run;
  int64_t seed = 0, budget = 0, params = 0, macs = 0;
  double lambda = 0, val_accuracy = 0, test_accuracy = 0, search_seconds = 0, retrain_seconds = 0;
};

std::optional<Row> read_row(const std::string& study, const std::string& method, int64_t budget, int64_t seed) {
  const std::string dir = study + "/runs/" + run_name(method, budget, seed);
  if (!fs::exists(dir + "/results.json")) return std::nullopt;
  const std::string results_path = dir + "/results.json", arch_path = dir + "/arch.json";
  const json results_json = JsonReader::parse_file(results_path);
  const JsonReader results(results_json, results_path);
  const json source_json = JsonReader::parse(nas::load_architecture(arch_path).source_json, arch_path);
  const JsonReader source(source_json, arch_path, "source");
  Row r{method, run_name(method, budget, seed), seed, budget};
  r.params = results["params"].count();
  r.macs = results["macs"].count();
  r.lambda = source.number_or("lambda", 0.0);
  r.val_accuracy = results.number_or("val_accuracy", 0.0);
  r.test_accuracy = results["test_accuracy"].number();
  r.search_seconds = source.number_or("seconds", 0.0);
  r.retrain_seconds = results.number_or("retrain_seconds", 0.0);
  return r;
}

// results.csv (one row per finished run) and summary.csv (mean and spread over seeds per method
// and budget: what the plots show).
void write_tables(const std::string& study, const std::vector<Row>& rows, bool params_budget) {
  std::ostringstream csv;
  csv << "method,seed,budget,lambda,params,macs,val_accuracy,test_accuracy,search_seconds,retrain_seconds,run\n";
  for (const Row& r : rows)
    csv << r.method << ',' << r.seed << ',' << r.budget << ',' << fmt(r.lambda, 6) << ',' << r.params << ',' << r.macs
        << ',' << fmt(r.val_accuracy, 5) << ',' << fmt(r.test_accuracy, 5) << ',' << fmt(r.search_seconds, 5) << ','
        << fmt(r.retrain_seconds, 5) << ',' << r.run << '\n';
  write_file_atomically(study + "/results.csv", csv.str());

  // Grouped by budget, then method: the table reads one budget at a time.
  std::map<std::pair<int64_t, std::string>, std::vector<const Row*>> groups;
  for (const Row& r : rows) groups[{r.budget, r.method}].push_back(&r);
  std::ostringstream summary, table;
  summary << "method,budget,runs,params_mean,macs_mean,test_accuracy_mean,test_accuracy_std,val_accuracy_mean\n";
  // summary.md: the same numbers as a Markdown table, for docs/results.md.
  table << "| method | budget (" << (params_budget ? "params" : "MACs") << ") | runs | params | MACs | landed vs budget "
           "| test accuracy % (mean +- std) | val accuracy % |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& [key, g] : groups) {
    double p = 0, m = 0, acc = 0, val = 0, var = 0;
    for (const Row* r : g) {
      p += static_cast<double>(r->params);
      m += static_cast<double>(r->macs);
      acc += r->test_accuracy;
      val += r->val_accuracy;
    }
    const double n = static_cast<double>(g.size());
    for (const Row* r : g) var += (r->test_accuracy - acc / n) * (r->test_accuracy - acc / n);
    const auto& [budget, method] = key;
    summary << method << ',' << budget << ',' << g.size() << ',' << fmt(p / n, 8) << ',' << fmt(m / n, 10)
            << ',' << fmt(acc / n, 5) << ',' << fmt(g.size() > 1 ? std::sqrt(var / (n - 1)) : 0.0, 4) << ','
            << fmt(val / n, 5) << '\n';
    char line[256], acc_text[64];
    if (g.size() > 1) {
      std::snprintf(acc_text, sizeof acc_text, "%.2f +- %.2f", 100 * acc / n, 100 * std::sqrt(var / (n - 1)));
    } else {
      std::snprintf(acc_text, sizeof acc_text, "%.2f", 100 * acc / n);  // one run: no spread to show
    }
    std::snprintf(line, sizeof line, "| %s | %lld | %zu | %.0f | %.3g M | %+.1f%% | %s | %.2f |\n", method.c_str(),
                  static_cast<long long>(budget), g.size(), p / n, m / n / 1e6,
                  100.0 * ((params_budget ? p : m) / n / static_cast<double>(budget) - 1), acc_text, 100 * val / n);
    table << line;
  }
  write_file_atomically(study + "/summary.csv", summary.str());
  write_file_atomically(study + "/summary.md", table.str());
}

// A path as one single-quoted shell word.
std::string shell_quoted(const std::string& path) {
  std::string q = "'";
  for (char c : path) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

const std::vector<std::string> kPlotFiles = {"pareto_params.png", "pareto_params.svg", "pareto_macs.png",
                                             "pareto_macs.svg"};

// pareto.gp, then gnuplot on it (when installed): test accuracy against params and against MACs,
// one marker per method, error bars = the spread over seeds. gnuplot draws into *.tmp files that
// replace the plots only when all four are drawn. A failure is an error for `--report` (required)
// and a warning inside a sweep, which should not stop hours of runs over a plot.
void write_plots(const std::string& study, const std::vector<std::string>& methods, bool required) {
  std::ostringstream gp;
  gp << "# Pareto plots of a figs sweep (figs sweep writes and runs this; rerun: gnuplot pareto.gp)\n"
        "set datafile separator ','\nset key bottom right\nset grid\nset logscale x\n"
        "set ylabel 'test accuracy (mean over seeds, bars: std)'\n"
        "if (!exists('suffix')) suffix = ''\n";
  for (const auto& [x, column, label] : std::vector<std::tuple<std::string, int, std::string>>{
           {"params", 4, "parameters"}, {"macs", 5, "MACs per image"}}) {
    gp << "set xlabel '" << label << "'\n";
    for (const std::string& term : {std::string("pngcairo size 900,600"), std::string("svg size 900,600")}) {
      const std::string ext = term.rfind("png", 0) == 0 ? "png" : "svg";
      gp << "set terminal " << term << "\nset output 'pareto_" << x << "." << ext << "'.suffix\nplot ";
      for (size_t i = 0; i < methods.size(); ++i)
        gp << (i ? ", \\\n     " : "") << "'summary.csv' using (strcol(1) eq '" << methods[i] << "' ? $" << column
           << " : NaN):6:7 with yerrorlines pointsize 1.5 title '" << methods[i] << "'";
      gp << "\n";
    }
  }
  gp << "unset output\n";
  write_file_atomically(study + "/pareto.gp", gp.str());
  auto problem = [&](const std::string& message) {
    FIGS_CHECK(!required, message);
    std::fprintf(stderr, "sweep: warning: %s; the sweep goes on\n", message.c_str());
  };
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    std::fprintf(stderr, "sweep: gnuplot is not installed, so no plots (apt install gnuplot-nox; then: cd %s && "
                 "gnuplot pareto.gp)\n", study.c_str());
    return;
  }
  const std::string cmd = "cd " + shell_quoted(study) + " && gnuplot -e \"suffix='.tmp'\" pareto.gp 2> gnuplot.log";
  if (std::system(cmd.c_str()) != 0) return problem("gnuplot failed on " + study + "/pareto.gp (see gnuplot.log)");
  for (const std::string& f : kPlotFiles) {
    std::error_code ec;
    fs::rename(study + "/" + f + ".tmp", study + "/" + f, ec);
    if (ec) return problem("gnuplot did not draw " + study + "/" + f + " (see gnuplot.log)");
  }
}

}  // namespace

void check_sweep(const json& base) {
  const json& sw = base["sweep"];
  const auto methods = sw["methods"].get<std::vector<std::string>>();
  const auto budgets = sw["budgets"].get<std::vector<int64_t>>();
  FIGS_CHECK(!methods.empty() && !budgets.empty() && !sw["seeds"].empty(), "sweep: methods, budgets and seeds must "
             "not be empty");
  for (const std::string& m : methods)
    FIGS_CHECK(std::find(kMethods.begin(), kMethods.end(), m) != kMethods.end(), "sweep: unknown method '", m,
               "' (methods: figs, morphnet, width, random)");
  // A repeated value would run (or count) the same run twice.
  auto check_distinct = [](auto values, const char* what) {
    std::sort(values.begin(), values.end());
    const auto twice = std::adjacent_find(values.begin(), values.end());
    FIGS_CHECK(twice == values.end(), "sweep: ", what, " lists ", *twice, " twice");
  };
  check_distinct(methods, "sweep.methods");
  check_distinct(budgets, "sweep.budgets");
  check_distinct(sw["seeds"].get<std::vector<int64_t>>(), "sweep.seeds");
  const auto space = make_space_from_config(base);
  const nas::Architecture full = nas::describe_architecture(*space, {});
  const bool params = base["search"]["cost"] == "params";
  for (int64_t b : budgets)
    FIGS_CHECK(b > 0 && b < (params ? full.params : full.macs), "sweep: budget ", b, " is not below the supernet's ",
               params ? full.params : full.macs, " ", params ? "params" : "MACs");
  // The width multiplier and random search cannot go below w = 0.25 of every width.
  if (std::find(methods.begin(), methods.end(), "width") != methods.end() ||
      std::find(methods.begin(), methods.end(), "random") != methods.end()) {
    const nas::Architecture narrowest =
        nas::describe_architecture(*space, nas::width_multiplier_map(*space, nas::kMinMultiplier));
    const int64_t floor = params ? narrowest.params : narrowest.macs;
    for (int64_t b : budgets)
      FIGS_CHECK(b >= floor, "sweep: budget ", b, " is below what the width multiplier reaches (w = 0.25: ", floor, " ",
                 params ? "params" : "MACs", "); raise it or drop the width and random methods");
  }
  // Random search may find no operator subset near a budget close to the supernet's size: better
  // said now than hours into the sweep (the matching is cheap: no training).
  if (std::find(methods.begin(), methods.end(), "random") != methods.end())
    for (int64_t seed : sw["seeds"].get<std::vector<int64_t>>())
      for (int64_t b : budgets) (void)baseline_architecture(run_config(base, "random", b, seed), "random");
}

namespace {

// The runs of a sweep in the order they run. Seeds outermost: a sweep stopped part-way has
// already covered every (method, budget) once.
struct GridRun {
  int64_t seed = 0, budget = 0;
  std::string method;
};
std::vector<GridRun> sweep_grid(const json& sweep) {
  std::vector<GridRun> grid;
  for (int64_t seed : sweep["seeds"].get<std::vector<int64_t>>())
    for (int64_t budget : sweep["budgets"].get<std::vector<int64_t>>())
      for (const std::string& method : sweep["methods"].get<std::vector<std::string>>())
        grid.push_back({seed, budget, method});
  return grid;
}

// "about 6.8 h left": the runs from grid[from] on that are not finished yet, each expected to take
// the mean time (search + retrain) of the finished runs of its method and budget, or of all
// finished runs where it has none. "" before any run has finished.
std::string time_left(const std::string& study, const std::vector<Row>& finished, const std::vector<GridRun>& grid,
                      size_t from) {
  if (finished.empty()) return "";
  std::map<std::pair<std::string, int64_t>, std::pair<double, int>> pace;  // (method, budget) -> (sum, runs)
  double all = 0;
  for (const Row& r : finished) {
    auto& [sum, runs] = pace[{r.method, r.budget}];
    sum += r.search_seconds + r.retrain_seconds;
    ++runs;
    all += r.search_seconds + r.retrain_seconds;
  }
  double left = 0;
  for (size_t i = from; i < grid.size(); ++i) {
    const GridRun& g = grid[i];
    if (fs::exists(study + "/runs/" + run_name(g.method, g.budget, g.seed) + "/results.json")) continue;
    const auto it = pace.find({g.method, g.budget});
    left += it != pace.end() ? it->second.first / it->second.second : all / static_cast<double>(finished.size());
  }
  char text[96];
  if (left >= 5400) {
    std::snprintf(text, sizeof text, "about %.1f h left", left / 3600);
  } else {
    std::snprintf(text, sizeof text, "about %.0f min left", left / 60);
  }
  return std::string(text) + " at the pace of the " + std::to_string(finished.size()) + " finished run" +
         (finished.size() == 1 ? "" : "s");
}

}  // namespace

void run_sweep(const json& base, const std::string& study, const Datasets& d) {
  check_sweep(base);
  const auto methods = base["sweep"]["methods"].get<std::vector<std::string>>();
  const bool params_budget = base["search"]["cost"] == "params";
  // Data parallel (docs/scaling.md): every run of the grid is data-parallel; rank 0 alone writes,
  // and barriers make every rank see the same files when it decides what to do.
  dist::ProcessGroup& world = dist::world();
  const bool writer = world.is_root();
  if (writer) fs::create_directories(study + "/runs");
  const std::vector<GridRun> grid = sweep_grid(base["sweep"]);
  const auto total = static_cast<long long>(grid.size());
  long long index = 0;
  std::vector<Row> rows;
  for (const auto& [seed, budget, method] : grid) {
    ++index;
    const std::string name = run_name(method, budget, seed), dir = study + "/runs/" + name;
    world.barrier();  // rank 0's files of the previous run are there for everyone
    if (auto row = read_row(study, method, budget, seed)) {
      std::fprintf(stderr, "sweep: [%lld/%lld] %s finished earlier\n", index, total, name.c_str());
      rows.push_back(*row);
      continue;
    }
    const json config = run_config(base, method, budget, seed);
    const bool resume = fs::exists(dir + "/config.json");
    world.barrier();  // every rank decided before rank 0 writes the folder
    if (resume) {
      FIGS_CHECK(run_identity(load_run_config(dir)) == run_identity(config), "sweep: ", dir, " holds a run with "
                 "another configuration (the sweep's config changed?); move it away to rerun it");
    } else if (writer) {
      fs::create_directories(dir);
      RunFolder::mark(dir, "run");  // the study's lock covers its runs
      write_file_atomically(dir + "/config.json", config.dump(2) + "\n");
    }
    const std::string left = time_left(study, rows, grid, static_cast<size_t>(index - 1));
    std::fprintf(stderr, "sweep: [%lld/%lld] %s %s%s\n", index, total, resume ? "resuming" : "starting", name.c_str(),
                 left.empty() ? "" : (" (" + left + ")").c_str());
    nas::Architecture arch;
    if (method == "figs" || method == "morphnet") {
      arch = run_search(config, d, dir, resume).arch;
    } else if (fs::exists(dir + "/arch.json")) {
      arch = nas::load_architecture(dir + "/arch.json");
    } else {
      arch = baseline_architecture(config, method);
      if (writer) nas::save_architecture(arch, dir + "/arch.json");
    }
    world.barrier();  // the run's folder and files exist
    run_retrain(config, d, arch, dir, resume);
    world.barrier();  // its results.json is written
    rows.push_back(*read_row(study, method, budget, seed));
    if (writer) {
      write_tables(study, rows, params_budget);  // after every run: a stopped sweep keeps its table and plots
      write_plots(study, methods, false);
    }
  }
  if (!writer) return;
  write_tables(study, rows, params_budget);
  write_plots(study, methods, false);
  std::fprintf(stderr, "sweep: %lld runs in %s: results.csv, summary.csv, summary.md, pareto_params.{png,svg}, "
               "pareto_macs.{png,svg}\n", total, study.c_str());
}

void report_sweep(const json& base, const std::string& study) {
  const auto methods = base["sweep"]["methods"].get<std::vector<std::string>>();
  std::vector<Row> rows;
  std::vector<std::string> missing;
  const std::vector<GridRun> grid = sweep_grid(base["sweep"]);
  for (const auto& [seed, budget, method] : grid) {
    if (auto row = read_row(study, method, budget, seed)) {
      rows.push_back(*row);
    } else {
      missing.push_back(run_name(method, budget, seed));
    }
  }
  write_tables(study, rows, base["search"]["cost"] == "params");
  if (!rows.empty()) write_plots(study, methods, true);  // gnuplot refuses a plot without any point
  std::fprintf(stderr, "sweep: %zu of %zu runs finished; results.csv, summary.csv, summary.md and the plots in %s "
               "rewritten from them\n", rows.size(), rows.size() + missing.size(), study.c_str());
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    const std::string left = time_left(study, rows, grid, 0);
    std::fprintf(stderr, "sweep: not finished yet: %s (continue with figs sweep --resume %s%s)\n", list.c_str(),
                 study.c_str(), left.empty() ? "" : ("; " + left).c_str());
  }
}

}  // namespace figs::app
