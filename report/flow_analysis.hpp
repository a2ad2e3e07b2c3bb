// Turns one run's records into the report model: per TCP flow, the 5-tuple at each capture
// point in path order (with what changed), the gateway's internals, and the ladder of packets.
// The model's shape is documented in docs/report.md.
#pragma once

#include <nlohmann/json.hpp>

#include "run_records.hpp"

namespace tplab {

nlohmann::ordered_json analyzeRun(const RunRecords& run);

// {"tool", "version", "generated", "runs": [analyzeRun(...)...]}
nlohmann::ordered_json buildReport(const std::vector<RunRecords>& runs);

}  // namespace tplab
