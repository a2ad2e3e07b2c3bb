// The HTML view of the `tplab report` model: one self-contained page for a class to open offline.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace tplab {

// A self-contained page (inline CSS, inline SVG, no external resources, no network):
// one column per run, an SVG ladder diagram per run drawn from the real packets, and the internals
// table. Missing or null fields of the model are shown as "—"; an odd shape never throws.
std::string renderHtmlReport(const nlohmann::ordered_json& report);

}  // namespace tplab
