// The doctor's checks: each names a silent failure of transparent proxying, explains it, and
// gives the command that fixes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "system_snapshot.hpp"

namespace tplab {

enum class Severity { Ok, Info, Warn, Fail };

struct Finding {
    std::string id;  // stable, for scripts and tests: "tproxy.ip_rule", "forwarding.ipv4"
    Severity severity = Severity::Ok;
    std::string summary;  // one line
    std::string fix;      // the command (or action) that fixes it; empty when nothing to fix
};

struct DoctorOptions {
    std::string mode;                   // "", "redirect", "tproxy", "anyip" or "sk-lookup"
    int port = 0;                       // the proxy's port, 0: do not look for a listener
    bool spoofSource = false;           // check the return path of --spoof-source too
    bool udp = false;                   // expect a UDP listener too
    std::optional<std::uint32_t> mark;  // the proxy's --mark, which its conntrack zone rules match
};

std::vector<Finding> runChecks(const SystemSnapshot& system, const DoctorOptions& options);

Severity worstOf(const std::vector<Finding>& findings);
std::string toString(Severity severity);

}  // namespace tplab
