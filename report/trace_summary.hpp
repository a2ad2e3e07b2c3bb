// One line of the kernel's view of a run's first connection, from the trace.json tplab trace
// wrote into the run directory: the hooks the first packet entered and the rules it matched.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace tplab {

// "prerouting [ip nat PREROUTING: REDIRECT -> accept] > input (NAT: now 192.0.2.1:15001)";
// "-" if there is no trace. Only the first leg's first packet.
std::string kernelPathSummary(const nlohmann::ordered_json& trace);

}  // namespace tplab
