// For exercises (`tplab doctor --no-fix`, or TPLAB_EXERCISE=1): where to look to understand a
// finding (which table, which counter, which capture), without the command that fixes it.
#pragma once

#include <string>

#include "checks.hpp"

namespace tplab {

// The place a student should look at for `finding`; never a command that changes anything.
// Empty for a finding with nothing to fix.
std::string whereToLook(const Finding& finding);

}  // namespace tplab
