#pragma once
/// @file The Open MPI settings tsn-dist runs with across nodes (launcher/multinode.mca, compiled
/// in), applied by every rank itself before MPI_Init, however it was started (plain `mpirun`,
/// `srun --mpi=pmix`, launcher/tsn_mpirun): a setting the environment already has (an
/// `OMPI_MCA_<name>` variable, which `mpirun --mca` and `-x` also set) wins.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tsn {

struct McaSetting {
  std::string name;
  std::string value;    ///< what this process asked for
  std::string source;   ///< "tsn-dist default" or "environment (OMPI_MCA_<name>)"
  std::string inForce;  ///< what Open MPI reports after MPI_Init (MPI_T), or why not known
};

/// The "name = value" lines of an Open MPI parameter file; '#' starts a comment. Throws Error
/// naming `origin` and the line for a line that is neither.
std::vector<std::pair<std::string, std::string>> parseMcaParams(std::string_view text,
                                                                const std::string& origin);

/// tsn-dist's defaults: launcher/multinode.mca as it was when this binary was built.
const std::vector<std::pair<std::string, std::string>>& openMpiDefaults();

/// Before MPI_Init: exports OMPI_MCA_<name>=value for every default the environment leaves
/// unset. Returns each default with the value asked for and where it came from.
std::vector<McaSetting> applyOpenMpiDefaults();

/// After MPI_Init: each setting's value as Open MPI's control variables report it.
void readMcaInForce(std::vector<McaSetting>& settings);

/// "name = value (source; in force: v)", comma-separated, for the start log.
std::string describe(const std::vector<McaSetting>& settings);

}  // namespace tsn
