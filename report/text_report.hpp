// The report as aligned text for a terminal: per run and flow, the hops and the internals;
// with two runs or more, side-by-side tables of the first flow of each (one per family, at most
// three runs each). No line is wider than kReportColumns: long cells wrap within their column.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace tplab {

// The widest line of the text report: what a projector or an 80/100-column terminal shows.
inline constexpr std::size_t kReportColumns = 100;

std::string renderTextReport(const nlohmann::ordered_json& report);

}  // namespace tplab
