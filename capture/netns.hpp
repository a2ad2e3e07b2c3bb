// Entering a named network namespace (/run/netns/NAME) from the calling thread only.
#pragma once

#include <string>

namespace tplab {

// setns(CLONE_NEWNET) for this thread; other threads stay where they are. Throws
// std::system_error naming the namespace. An empty name does nothing.
void enterNetns(const std::string& name);

}  // namespace tplab
