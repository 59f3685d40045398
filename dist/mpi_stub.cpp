// make_mpi_group of a build without MPI (FIGS_WITH_MPI=OFF or no MPI found).
#include "core/error.h"
#include "dist/mpi_group.h"

namespace figs::dist {

std::shared_ptr<ProcessGroup> make_mpi_group() {
  fail("this figs was built without MPI: install an MPI (Debian: libopenmpi-dev openmpi-bin) and configure with "
       "-DFIGS_WITH_MPI=ON to run it under mpirun");
}

}  // namespace figs::dist
