// The report as aligned text for a terminal: per run and flow, the hops and the internals;
// with two runs or more, a side-by-side table of the first flow of each.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace tplab {

std::string renderTextReport(const nlohmann::ordered_json& report);

}  // namespace tplab
