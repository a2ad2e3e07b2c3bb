// A journey as text (plain words, 100 columns) or as JSON (for tplab report).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "journey.hpp"

namespace tplab {

struct TraceContext {
    std::string netns;               // "" = the namespace tplab ran in
    std::string filter;              // describe(FlowFilter)
    std::string table;               // tplab's own table
    std::vector<std::string> notes;  // one line each: what could not be traced, and why
    std::string dropsFrom;           // the tracefs instance, or empty
    bool allDrops = false;           // also list the drops not tied to the flow
};

std::string journeyText(const Journey& journey, const TraceContext& context);
nlohmann::ordered_json journeyJson(const Journey& journey, const TraceContext& context);

}  // namespace tplab
