#include "distributed/OpenMpiSettings.h"

#include <mpi.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "common/Error.h"
#include "common/Strings.h"

namespace tsn {

namespace detail {
extern const char* const kMultinodeMca;  // generated from launcher/multinode.mca (CMake)
}

std::vector<std::pair<std::string, std::string>> parseMcaParams(std::string_view text,
                                                                const std::string& origin) {
  static const std::regex line(R"(^\s*([a-z0-9_]+)\s*=\s*(\S+)\s*$)");
  std::vector<std::pair<std::string, std::string>> params;
  std::istringstream in{std::string(text)};
  std::string raw;
  for (int number = 1; std::getline(in, raw); ++number) {
    const std::string content = trim(raw.substr(0, raw.find('#')));
    if (content.empty()) continue;
    std::smatch m;
    TSN_CHECK(std::regex_match(content, m, line), "{}:{}: expected 'name = value': \"{}\"", origin,
              number, content);
    params.emplace_back(m[1], m[2]);
  }
  return params;
}

const std::vector<std::pair<std::string, std::string>>& openMpiDefaults() {
  static const auto defaults = parseMcaParams(detail::kMultinodeMca, "launcher/multinode.mca");
  return defaults;
}

std::vector<McaSetting> applyOpenMpiDefaults() {
  std::vector<McaSetting> settings;
  for (const auto& [name, value] : openMpiDefaults()) {
    const std::string variable = "OMPI_MCA_" + name;
    if (const char* set = std::getenv(variable.c_str()); set != nullptr && *set != '\0') {
      settings.push_back({name, set, "environment (" + variable + ")", ""});
    } else {
      setenv(variable.c_str(), value.c_str(), /*overwrite=*/1);
      settings.push_back({name, value, "tsn-dist default", ""});
    }
  }
  return settings;
}

namespace {

/// The value of control variable `index` as text, or why it cannot be read.
std::string readCvar(int index) {
  char name[256] = {};
  int nameLength = sizeof(name), verbosity = 0, binding = 0, scope = 0, descriptionLength = 0;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_T_enum enumeration{};
  if (MPI_T_cvar_get_info(index, name, &nameLength, &verbosity, &type, &enumeration, nullptr,
                          &descriptionLength, &binding, &scope) != MPI_SUCCESS) {
    return "unreadable";
  }
  MPI_T_cvar_handle handle{};
  int count = 0;
  if (MPI_T_cvar_handle_alloc(index, nullptr, &handle, &count) != MPI_SUCCESS) return "unreadable";
  std::string text = "unreadable";
  if (type == MPI_INT || type == MPI_UNSIGNED || type == MPI_LONG || type == MPI_UNSIGNED_LONG ||
      type == MPI_LONG_LONG || type == MPI_UNSIGNED_LONG_LONG) {
    union {
      int i;
      unsigned u;
      long l;
      unsigned long ul;
      long long ll;
      unsigned long long ull;
    } v{};
    if (MPI_T_cvar_read(handle, &v) == MPI_SUCCESS) {
      text = type == MPI_INT             ? std::to_string(v.i)
             : type == MPI_UNSIGNED      ? std::to_string(v.u)
             : type == MPI_LONG          ? std::to_string(v.l)
             : type == MPI_UNSIGNED_LONG ? std::to_string(v.ul)
             : type == MPI_LONG_LONG     ? std::to_string(v.ll)
                                         : std::to_string(v.ull);
    }
  } else if (type == MPI_CHAR) {
    std::string s(static_cast<size_t>(std::max(count, 1)) + 1, '\0');
    if (MPI_T_cvar_read(handle, s.data()) == MPI_SUCCESS) text = s.c_str();
  }
  MPI_T_cvar_handle_free(&handle);
  return text;
}

}  // namespace

void readMcaInForce(std::vector<McaSetting>& settings) {
  int provided = 0;
  if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) {
    for (auto& s : settings) s.inForce = "unknown (no MPI tool interface)";
    return;
  }
  for (auto& s : settings) {
    int index = -1;
    s.inForce = MPI_T_cvar_get_index(s.name.c_str(), &index) == MPI_SUCCESS
                    ? readCvar(index)
                    : "not registered (its component is not loaded)";
  }
  MPI_T_finalize();
}

std::string describe(const std::vector<McaSetting>& settings) {
  std::vector<std::string> parts;
  for (const auto& s : settings) {
    parts.push_back(fmt::format("{} = {} ({}; in force: {})", s.name, s.value, s.source,
                                s.inForce.empty() ? "not read" : s.inForce));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace tsn
