// The NCCL process group: all-reduce of CUDA tensors between the GPUs of a data-parallel run,
// over an MPI group that does the rendezvous (the NCCL unique id goes out by MPI broadcast) and
// everything on the host (scalars, barriers, abort, CPU tensors).
#pragma once

#include <memory>

#include "core/distributed.h"

namespace figs::dist {

// Whether this figs was built with NCCL (CUDA build with nccl.h and libnccl found).
bool nccl_available();

// One communicator over host's ranks on CUDA device `device` of this process. Collective: every
// rank of `host` calls it. Throws when figs was built without NCCL.
std::shared_ptr<ProcessGroup> make_nccl_group(std::shared_ptr<ProcessGroup> host, int device);

// The GPU a rank should use when the launcher starts one rank per GPU on each node: its local
// rank (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID), 0 when none is set.
int local_rank();

}  // namespace figs::dist
