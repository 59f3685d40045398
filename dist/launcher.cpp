// What the launcher put in the environment: shared by the MPI build and the stub.
#include <algorithm>
#include <cstdlib>

#include "dist/mpi_group.h"
#include "dist/nccl_group.h"

namespace figs::dist {

int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 1;
}

bool launched_by_mpirun() { return launcher_world_size() > 1; }

int local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
    if (const char* v = std::getenv(name)) return std::max(std::atoi(v), 0);
  }
  return 0;
}

}  // namespace figs::dist
