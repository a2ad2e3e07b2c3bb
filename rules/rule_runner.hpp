// Making a rule plan so (--apply) and undoing it (--remove), idempotently: a step already in
// place is skipped, and sysctls get back the value they had before --apply.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "rule_plan.hpp"

namespace tplab {

// Prints each command as it runs ("+ ..."), or why it is skipped. Throws std::runtime_error with
// the command and its output when one fails.
void applyPlan(const std::vector<RuleStep>& steps, std::FILE* out);
void removePlan(const std::vector<RuleStep>& steps, std::FILE* out);

}  // namespace tplab
