// Fuzzes the rule generator (rules/rule_plan.cpp) through every field of its options: a spec is
// either refused with std::invalid_argument or planned into steps that all have a command and
// a reason, and that render as a script.
#include <cstdint>
#include <stdexcept>

#include "fuzz_input.hpp"
#include "rule_plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tplab::fuzz::FuzzInput input(data, size);
    tplab::RuleSpec spec;
    spec.mode =
        static_cast<tplab::InterceptMode>(input.integral<std::uint8_t>() % 5);  // + SkLookup
    spec.firewall = input.flag() ? tplab::Firewall::Nft : tplab::Firewall::Iptables;
    spec.proxyPort = input.integral<std::uint16_t>();
    spec.ipv4 = input.flag();
    spec.ipv6 = input.flag();
    spec.tcp = input.flag();
    spec.udp = input.flag();
    spec.local = input.flag();
    spec.spoofSource = input.flag();
    spec.proxyMark = input.integral<std::uint32_t>();
    spec.tproxyMark = input.integral<std::uint32_t>();
    spec.table = input.integral<int>();
    spec.inInterface = input.string();
    spec.dnatAddress4 = input.string();
    spec.dnatAddress6 = input.string();
    for (std::size_t count = input.integral<std::uint8_t>() % 16; count > 0; --count) {
        spec.destinationPorts.push_back(input.integral<std::uint16_t>());
    }
    for (std::size_t count = input.integral<std::uint8_t>() % 4; count > 0; --count) {
        spec.anyipPrefixes.push_back(input.string());
    }
    std::vector<tplab::RuleStep> steps;
    try {
        steps = tplab::planRules(spec);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    tplab::fuzz::fuzzCheck(!steps.empty(), "an accepted spec planned no step");
    for (const auto& step : steps) {
        tplab::fuzz::fuzzCheck(!step.apply.argv.empty() && !step.apply.argv[0].empty(),
                               "a step without a command");
        tplab::fuzz::fuzzCheck(!step.why.empty(), "a step without a reason");
    }
    tplab::fuzz::fuzzCheck(!tplab::renderPlan(steps).empty(), "an empty script");
    return 0;
}
