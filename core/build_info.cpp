#include "core/build_info.h"

#include "core/error.h"
#include "figs_build_config.h"

#if FIGS_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace figs {

BuildInfo build_info() {
  BuildInfo info;
  info.version = FIGS_VERSION;
  info.with_cuda = FIGS_WITH_CUDA;
  info.with_onednn = FIGS_WITH_ONEDNN;
  info.with_mpi = FIGS_WITH_MPI;
#if FIGS_WITH_ONEDNN
  const dnnl_version_t* v = dnnl_version();
  info.onednn_version = str_cat(v->major, '.', v->minor, '.', v->patch);
#endif
  return info;
}

std::string BuildInfo::summary() const {
  return str_cat("figs ", version, " (cuda: ", with_cuda ? "yes" : "no",
                 ", onednn: ", with_onednn ? onednn_version : std::string("no"), ", mpi: ", with_mpi ? "yes" : "no", ")");
}

}  // namespace figs
