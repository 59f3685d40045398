// How this copy of figs was built, for logs, benchmarks and bug reports.
#pragma once

#include <string>

namespace figs {

struct BuildInfo {
  std::string version;
  bool with_cuda = false;
  bool with_onednn = false;
  bool with_mpi = false;  // the MPI process group (dist/), for runs under mpirun
  std::string onednn_version;  // "2.6.3" when linked, else empty
  std::string summary() const;  // one line: "figs 0.1.0 (cuda: yes, onednn: 2.6.3)"
};

BuildInfo build_info();

}  // namespace figs
