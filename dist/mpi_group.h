// The MPI process group (core/distributed.h) and how figs finds out it was started by mpirun.
#pragma once

#include <memory>

#include "core/distributed.h"

namespace figs::dist {

// True when the environment says this process is one rank of an MPI job of more than one
// process (Open MPI's OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX_SIZE of other launchers).
bool launched_by_mpirun();
// The size the launcher announced (1 when none).
int launcher_world_size();

// Initialises MPI (MPI_THREAD_FUNNELED: collectives come from the main thread only) and returns
// the group over MPI_COMM_WORLD; MPI is finalised when the last handle goes. Throws when figs
// was built without MPI.
std::shared_ptr<ProcessGroup> make_mpi_group();

}  // namespace figs::dist
