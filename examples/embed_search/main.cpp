// The FiGS search embedded in a C++ program, end to end, through the installed headers:
//   1. a search space from its JSON configuration (what arch.json's "space" holds),
//   2. a few architecture-learning steps on the supernet (synthetic data, no files needed),
//   3. the learned widths exported as an architecture file,
//   4. the exported network rebuilt from that file by the space's builder, and run,
//   5. the network written as ONNX (figs::onnx) after the ONNX checker accepted it.
// Usage: embed_search [OUT_DIR]   (writes OUT_DIR/arch.json and OUT_DIR/embed_search.onnx)
#include <figs/deploy/onnx_export.h>
#include <figs/figs.h>

#include <cstdio>
#include <string>

using namespace figs;

int main(int argc, char** argv) {
  const std::string out = argc > 1 ? argv[1] : ".";
  try {
    // 1. The space: One-Shot's tiny28 preset (1 x 28 x 28 images, 10 classes).
    const auto space = nas::make_space_from_json(R"({"space": "oneshot", "preset": "tiny28"})");

    // 2. The supernet: a mask after every convolution, every mask numbered and seeded.
    nas::BuildOptions build;
    build.masks = true;
    build.mask_options.tau = 0.5;
    nn::Model supernet(space->build(space->full_widths(), build), {.initialize = true, .seed = 1, .device = Device::cpu()});
    nas::configure_masks(supernet.root(), 1);

    auto images = std::make_shared<data::SyntheticDataset>(data::SyntheticOptions{256, {1, 28, 28}, 10, 7});
    data::LoaderConfig lc;
    lc.batch_size = 32;
    lc.seed = 1;
    lc.num_workers = 1;
    data::Loader loader(images, lc);

    // The channel groups and the cost are read from one traced forward pass of the supernet.
    loader.start_epoch(0);
    const data::Batch first = *loader.next();
    nas::ChannelGraph::NamedParameters params;
    for (const nn::ArenaSlot& p : supernet.param_slots()) params.emplace_back(p.name, p.tensor);
    const nas::ChannelGraph graph = nas::ChannelGraph::trace(sum(supernet(first.images)), params);
    nas::PenaltyOptions po;
    po.kind = nas::CostKind::Params;
    po.lambda = 4.0;
    po.relative_lambda = true;  // 4 / (the supernet's cost)
    nas::CostPenalty penalty(graph, po);
    nn::ParamGroupSpec logits = nn::ParamGroupSpec::ending_with(".logits");
    logits.lr = 0.05;
    logits.weight_decay = 0.0;
    nn::Adam adam(supernet, {.lr = 0.01}, {logits});
    nas::SearchOptions so;
    so.tau = nas::TauSchedule::constant(0.5);
    nas::ArchitectureSearch search(supernet, penalty, adam, so);
    search.on_step([](const nas::SearchStepStats& s, nas::ArchitectureSearch&) {
      std::printf("step %lld: task loss %.3f, cost %.0f params, %lld of %lld channels alive\n",
                  static_cast<long long>(s.step), s.task_loss, s.cost, static_cast<long long>(s.alive_channels),
                  static_cast<long long>(s.channels));
    });
    for (int epoch = 0; search.steps_done() < 12; ++epoch) {
      loader.start_epoch(epoch);
      while (auto b = loader.next()) {
        if (search.steps_done() >= 12) break;
        search.step(b->images, b->labels);
      }
    }

    // 3. The widths the masks learned (floor of the summed keep probabilities), kept connected.
    const nas::WidthMap widths =
        nas::keep_network_connected(*space, nas::width_map_from_export(*space, nas::export_widths(graph)));
    const nas::Architecture arch = nas::describe_architecture(*space, widths, R"({"method": "figs", "by": "embed_search"})");
    nas::save_architecture(arch, out + "/arch.json");

    // 4. The exported network, rebuilt from the file as `figs retrain` would, and run.
    const nas::Architecture loaded = nas::load_architecture(out + "/arch.json");
    const auto rebuilt_space = nas::make_space_from_json(loaded.space_json);
    nn::Model net(rebuilt_space->build(loaded.widths), {.initialize = true, .seed = 2, .device = Device::cpu()});
    net.eval();
    Tensor predictions;
    {
      NoGradGuard no_grad;
      predictions = net(first.images);
    }
    std::printf("exported network: %lld params (supernet %lld), %lld MACs; logits %s\n",
                static_cast<long long>(net.num_parameters()), static_cast<long long>(supernet.num_parameters()),
                static_cast<long long>(loaded.macs), predictions.describe().c_str());

    // 5. ONNX: checked, then written.
    deploy::OnnxExportOptions onnx_options;
    onnx_options.batch = 0;  // dynamic
    onnx_options.fold_batch_norm = true;
    onnx_options.metadata = {{"figs.space", loaded.space_json}, {"figs.params", std::to_string(loaded.params)}};
    deploy::OnnxExportSummary summary;
    const std::string model = deploy::export_onnx(net.root(), rebuilt_space->input_shape(), onnx_options, &summary);
    deploy::check_onnx(model, "embed_search.onnx");
    figs::write_file_atomically(out + "/embed_search.onnx", model);
    std::printf("wrote %s/arch.json and %s/embed_search.onnx (%lld nodes, %lld BatchNorms folded)\n", out.c_str(),
                out.c_str(), static_cast<long long>(summary.nodes), static_cast<long long>(summary.folded_batch_norms));
    return net.num_parameters() == loaded.params && predictions.size(1) == 10 ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "embed_search: %s\n", e.what());
    return 1;
  }
}
