// The op list (core/ops.inc) against what it describes: every recorded Node carries its op's
// kind and parameters, every op's file exists, and docs/architecture.md's op table names every
// op beside its file, so the map cannot go stale.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/op_kind.h"
#include "test_util.h"

namespace figs {
namespace {

const std::string kSourceDir = FIGS_SOURCE_DIR;

TEST(OpList, NamesAndKindsAreOneToOne) {
  std::set<std::string> names;
  for (size_t i = 0; i < op_list().size(); ++i) {
    const OpInfo& op = op_list()[i];
    EXPECT_EQ(static_cast<size_t>(op.kind), i) << op.name;
    EXPECT_TRUE(names.insert(op.name).second) << "two ops named " << op.name;
    EXPECT_EQ(op_kind_named(op.name), op.kind);
    EXPECT_TRUE(std::filesystem::exists(kSourceDir + "/" + op.file)) << op.name << ": " << op.file;
  }
  EXPECT_EQ(static_cast<int>(op_list().size()), kNumOpKinds);
  EXPECT_ERROR_MENTIONS(op_kind_named("conv3d"), "unknown op 'conv3d'");
  EXPECT_STREQ(unary_op_name(UnaryOp::AddScalar), "add_scalar");
  EXPECT_STREQ(binary_op_name(BinaryOp::Div), "div");
}

TEST(OpList, NodesCarryTheirKindAndParameters) {
  Generator gen(3);
  const Tensor x = uniform({2, 4, 5, 5}, -1, 1, gen).set_requires_grad();
  const Tensor w = uniform({4, 1, 3, 3}, -1, 1, gen).set_requires_grad();
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  p.groups = 4;
  const Tensor y = conv2d(x, w, Tensor(), p);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->kind(), OpKind::Conv2d);
  EXPECT_STREQ(y.grad_fn()->name(), "conv2d");
  EXPECT_EQ(y.grad_fn()->params_as<Conv2dParams>().groups, 4);
  EXPECT_ERROR_MENTIONS(y.grad_fn()->params_as<Pool2dParams>(), "conv2d");

  const Tensor c = concat({x, y}, 1);
  EXPECT_EQ(c.grad_fn()->params_as<IntsArg>().values, std::vector<int64_t>{1});
  const Tensor s = sum(c, {2, 3}, true);
  EXPECT_EQ(s.grad_fn()->kind(), OpKind::Sum);
  EXPECT_EQ(s.grad_fn()->params_as<IntsArg>().values, (std::vector<int64_t>{2, 3}));
  EXPECT_DOUBLE_EQ(add_scalar(x, 0.25).grad_fn()->params_as<ScalarArg>().value, 0.25);
  EXPECT_EQ(relu(x).grad_fn()->kind(), OpKind::Relu);
}

// docs/architecture.md, "Where each op lives": a row "| op names | file | ..." per op family.
TEST(OpList, ArchitectureDocNamesEveryOpWithItsFile) {
  std::ifstream in(kSourceDir + "/docs/architecture.md");
  ASSERT_TRUE(in) << "docs/architecture.md not found under " << kSourceDir;
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("## Where each op lives");
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("\n## ", begin + 1);
  std::istringstream section(doc.substr(begin, end - begin));
  std::vector<std::pair<std::string, std::string>> rows;  // (first cell, second cell)
  for (std::string line; std::getline(section, line);) {
    if (line.rfind("| ", 0) != 0) continue;
    const size_t a = line.find(" | ", 2);
    if (a == std::string::npos) continue;
    const size_t b = line.find(" | ", a + 3);
    rows.push_back({line.substr(2, a - 2), line.substr(a + 3, b == std::string::npos ? std::string::npos : b - a - 3)});
  }
  for (const OpInfo& op : op_list()) {
    const std::string file = std::filesystem::path(op.file).filename().string();
    const std::regex word("(^|[^a-z0-9_])" + std::string(op.name) + "($|[^a-z0-9_])");
    bool found = false;
    for (const auto& [names, where] : rows)
      found = found || (std::regex_search(names, word) && where.find(file) != std::string::npos);
    EXPECT_TRUE(found) << "docs/architecture.md has no op-table row naming '" << op.name << "' beside " << file;
  }
}

}  // namespace
}  // namespace figs
