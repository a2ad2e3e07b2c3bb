// `tplab trace` on each interception mode and each classic pitfall, set up by labs/trace.sh in
// namespaces of its own: the hook, the rule, the verdict and the kernel's drop reason must be
// the ones the kernel reports. And after a trace, also a SIGKILLed one, nothing stays on.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "process.hpp"

namespace tplab::test {
namespace {

using nlohmann::json;

const std::string kLabs = std::string(TPLAB_TEST_TOOLS) + "/../../labs";

std::string skipReason() {
    if (::geteuid() != 0)
        return "needs root (namespaces, nft tables, tracefs)";
    if (runShell("command -v nft && command -v socat && command -v curl").exitCode != 0)
        return "needs nft, socat and curl";
    return "";
}

bool tracefsMounted() {
    return runShell("grep -q ' tracefs ' /proc/self/mounts").exitCode == 0;
}

// The tplab-* instances in tracefs, looking under a temporary mount if it is not mounted (an
// instance outlives an unmount, so "not mounted" proves nothing).
std::string tplabInstances() {
    return runShell(
               "if grep -q ' tracefs ' /proc/self/mounts; then "
               "ls $(awk '$3==\"tracefs\"{print $2; exit}' /proc/self/mounts)/instances; "
               "else d=$(mktemp -d) && mount -t tracefs nodev $d && ls $d/instances; "
               "umount $d; rmdir $d; fi | grep '^tplab-' || true")
        .output;
}

// Steps of one packet, by kind.
std::vector<json> stepsOf(const json& packet, const std::string& kind) {
    std::vector<json> found;
    for (const auto& step : packet["steps"])
        if (step["kind"] == kind)
            found.push_back(step);
    return found;
}

bool hasHook(const json& packet, const std::string& hook) {
    for (const auto& step : stepsOf(packet, "hook"))
        if (step["hook"] == hook)
            return true;
    return false;
}

// The first rule step whose iptables or nft text contains `word`, or null.
json ruleWith(const json& packet, const std::string& word) {
    for (const auto& step : stepsOf(packet, "rule")) {
        if (step["iptables"].get<std::string>().find(word) != std::string::npos ||
            step["rule"].get<std::string>().find(word) != std::string::npos)
            return step;
    }
    return nullptr;
}

std::string dropReason(const json& packet) {
    return packet["drop"].is_null() ? "" : packet["drop"]["reason"].get<std::string>();
}

struct TraceCase {
    std::string name;
    std::string labCase;
    std::string family;  // ipv4 or ipv6
    std::function<void(const json& trace)> check;
};

std::ostream& operator<<(std::ostream& out, const TraceCase& c) {
    return out << c.name;
}

class TraceShowsTheKernelsView : public ::testing::TestWithParam<TraceCase> {};

TEST_P(TraceShowsTheKernelsView, StepsAndDropReasonAreTheKernels) {
    if (auto reason = skipReason(); !reason.empty())
        GTEST_SKIP() << reason;
    const auto& c = GetParam();
    bool mountedBefore = tracefsMounted();
    std::string prefix = "trt" + std::to_string(::getpid() % 100000);
    std::string jsonPath = "/tmp/" + prefix + "-" + c.name + ".json";
    auto lab =
        runShell("LAB_PREFIX=" + prefix + " TPLAB=" + TPLAB_BINARY + " " + kLabs + "/trace.sh " +
                 c.labCase + " --" + c.family + " --json " + jsonPath + " 2>&1");
    ASSERT_EQ(lab.exitCode, 0) << lab.output;
    std::ifstream file(jsonPath);
    auto trace = json::parse(file, nullptr, false);
    ::unlink(jsonPath.c_str());
    ASSERT_FALSE(trace.is_discarded()) << lab.output;
    ASSERT_FALSE(trace["legs"].empty()) << lab.output;
    c.check(trace);
    if (HasFailure())
        ADD_FAILURE() << lab.output;
    EXPECT_EQ(tracefsMounted(), mountedBefore) << "tracefs mount state changed";
    EXPECT_EQ(tplabInstances(), "") << "a tracefs instance was left behind";
}

const json& firstPacket(const json& trace, std::size_t leg = 0) {
    return trace["legs"].at(leg)["packets"].at(0);
}

// TPROXY took the SYN in mangle prerouting, and then the packet died where routing decides:
// never at input, the kernel's drop in ip_forward (the forward path drops a packet that carries
// a socket).
void droppedOnTheForwardPath(const json& trace) {
    const auto& syn = firstPacket(trace);
    EXPECT_EQ(syn["tcp_flags"], "syn");
    auto tproxy = ruleWith(syn, "TPROXY");
    ASSERT_FALSE(tproxy.is_null());
    EXPECT_EQ(tproxy["hook"], "prerouting");
    EXPECT_EQ(tproxy["table"], "ip mangle");
    EXPECT_EQ(tproxy["verdict"], "accept");
    EXPECT_FALSE(hasHook(syn, "input"));
    EXPECT_FALSE(hasHook(syn, "forward"));
    EXPECT_EQ(syn["fate"], "dropped");
    ASSERT_FALSE(syn["drop"].is_null());
    EXPECT_EQ(syn["drop"]["location"], "ip_forward");
    EXPECT_GE(syn["copies"].get<int>(), 2) << "the client retransmits the SYN";
}

// The nft tproxy statement found no transparent socket: no rule event, the SYN is forwarded to
// the server as if there were no rule (and the connection works, past the proxy).
void bypassedTheProxy(const json& trace) {
    const auto& syn = firstPacket(trace);
    EXPECT_TRUE(stepsOf(syn, "rule").empty());
    EXPECT_TRUE(hasHook(syn, "forward"));
    EXPECT_EQ(syn["fate"], "sent");
    bool explained = false;
    for (const auto& step : stepsOf(syn, "socket"))
        explained =
            explained || step["text"].get<std::string>().find("NFT_BREAK") != std::string::npos;
    EXPECT_TRUE(explained);
}

void tproxyDelivers(const json& trace) {
    const auto& syn = firstPacket(trace);
    auto tproxy = ruleWith(syn, "TPROXY");
    ASSERT_FALSE(tproxy.is_null());
    EXPECT_EQ(tproxy["hook"], "prerouting");
    EXPECT_EQ(tproxy["priority"], "mangle (-150)");
    EXPECT_EQ(tproxy["verdict"], "accept");
    EXPECT_TRUE(hasHook(syn, "input"));
    EXPECT_FALSE(hasHook(syn, "forward"));
    bool local = false;
    for (const auto& step : stepsOf(syn, "routing"))
        local = local || step["text"].get<std::string>().find(
                             "local (deliver to this host), "
                             "table 100") != std::string::npos;
    EXPECT_TRUE(local);
    for (const auto& step : stepsOf(syn, "hook")) {
        if (step["hook"] == "input") {
            EXPECT_EQ(step["mark"], 1);
        }
    }
    EXPECT_EQ(syn["fate"], "delivered");
    EXPECT_EQ(dropReason(syn), "");
    ASSERT_EQ(trace["legs"].size(), 2u);
    EXPECT_TRUE(hasHook(firstPacket(trace, 1), "output")) << "the proxy's upstream connection";
}

const TraceCase kCases[] = {
    {"Redirect", "redirect", "ipv4",
     [](const json& trace) {
         const auto& syn = firstPacket(trace);
         auto redirect = ruleWith(syn, "REDIRECT");
         ASSERT_FALSE(redirect.is_null());
         EXPECT_EQ(redirect["table"], "ip nat");
         EXPECT_EQ(redirect["hook"], "prerouting");
         EXPECT_EQ(redirect["priority"], "dstnat (-100)");
         bool rewritten = false;
         for (const auto& step : stepsOf(syn, "hook"))
             rewritten = rewritten ||
                         (step["hook"] == "input" &&
                          step.value("text", "").find("now 192.0.2.1:15001") != std::string::npos);
         EXPECT_TRUE(rewritten) << "the destination changed in nat prerouting";
         EXPECT_EQ(syn["fate"], "delivered");
     }},
    {"Tproxy", "tproxy", "ipv4", tproxyDelivers},
    {"TproxyIpv6", "tproxy", "ipv6",
     [](const json& trace) {
         EXPECT_EQ(firstPacket(trace)["family"], 6);
         EXPECT_EQ(ruleWith(firstPacket(trace), "TPROXY")["table"], "ip6 mangle");
         EXPECT_TRUE(hasHook(firstPacket(trace), "input"));
     }},
    {"SkLookup", "sk-lookup", "ipv4",
     [](const json& trace) {
         const auto& syn = firstPacket(trace);
         EXPECT_TRUE(stepsOf(syn, "rule").empty()) << "sk_lookup passes no rule at all";
         EXPECT_TRUE(hasHook(syn, "input"));
         EXPECT_EQ(syn["fate"], "delivered");
     }},
    {"Socks5", "socks5", "ipv4",
     [](const json& trace) {
         ASSERT_EQ(trace["legs"].size(), 2u) << "two ordinary connections";
         EXPECT_EQ(trace["legs"][0]["server"], "192.0.2.1:1080");
         EXPECT_EQ(trace["legs"][1]["server"], "198.51.100.2:80");
         EXPECT_TRUE(hasHook(firstPacket(trace, 0), "input"));
         EXPECT_TRUE(hasHook(firstPacket(trace, 1), "output"));
         EXPECT_TRUE(stepsOf(firstPacket(trace, 0), "rule").empty());
     }},
    {"NoIpRule", "no-ip-rule", "ipv4", droppedOnTheForwardPath},
    {"NoLocalRoute", "no-local-route", "ipv4", droppedOnTheForwardPath},
    {"MarkMismatch", "mark-mismatch", "ipv4", droppedOnTheForwardPath},
    {"NoTransparentListener", "no-transparent-listener", "ipv4",
     [](const json& trace) {
         const auto& syn = firstPacket(trace);
         auto tproxy = ruleWith(syn, "TPROXY");
         ASSERT_FALSE(tproxy.is_null());
         EXPECT_EQ(tproxy["verdict"], "drop") << "the TPROXY target's own NF_DROP";
         EXPECT_EQ(dropReason(syn), "NETFILTER_DROP");
         EXPECT_EQ(syn["drop"]["location"], "nft_do_chain");
     }},
    {"NftTproxyNoSocket", "nft-tproxy-no-socket", "ipv4", bypassedTheProxy},
    {"NftNoTransparentListener", "nft-no-transparent-listener", "ipv4", bypassedTheProxy},
    {"UnscopedRule", "unscoped-rule", "ipv4",
     [](const json& trace) {
         ASSERT_EQ(trace["legs"].size(), 2u);
         bool synAckDropped = false;
         for (const auto& packet : trace["legs"][1]["packets"]) {
             auto tproxy = ruleWith(packet, "TPROXY");
             if (packet["tcp_flags"] == "syn|ack" && !tproxy.is_null() &&
                 tproxy["verdict"] == "drop" && dropReason(packet) == "NETFILTER_DROP")
                 synAckDropped = true;
         }
         EXPECT_TRUE(synAckDropped) << "the server's SYN-ACK to the proxy, dropped by TPROXY";
     }},
    {"RpFilter", "rp-filter", "ipv4",
     [](const json& trace) {
         const auto& syn = firstPacket(trace);
         EXPECT_EQ(ruleWith(syn, "TPROXY")["verdict"], "accept");
         EXPECT_FALSE(hasHook(syn, "input"));
         EXPECT_EQ(dropReason(syn), "IP_LOCAL_SOURCE");
         EXPECT_EQ(syn["drop"]["location"], "ip_rcv_finish_core");
     }},
};

INSTANTIATE_TEST_SUITE_P(EachCase, TraceShowsTheKernelsView, ::testing::ValuesIn(kCases),
                         [](const auto& param) { return param.param.name; });

bool tableIn(const std::string& ns) {
    return runShell("ip netns exec " + ns + " nft list tables | grep -q tplab_trace_").exitCode ==
           0;
}

TEST(TraceCleanup, SigkillLeavesThingsThatCleanupRemoves) {
    if (auto reason = skipReason(); !reason.empty())
        GTEST_SKIP() << reason;
    bool mountedBefore = tracefsMounted();
    std::string ns = "trk" + std::to_string(::getpid() % 100000);
    ASSERT_EQ(runShell("ip netns add " + ns).exitCode, 0);
    Process trace({TPLAB_BINARY, "trace", "--netns", ns, "--port", "80", "--timeout", "60"},
                  "/dev/null");
    for (int i = 0; i < 100 && !tableIn(ns); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(tableIn(ns)) << "tplab trace did not add its table";
    trace.signal(SIGKILL);
    trace.wait(std::chrono::seconds(5));
    EXPECT_TRUE(tableIn(ns)) << "a SIGKILL cannot clean up: the table must still be there";
    EXPECT_NE(tplabInstances(), "");
    auto cleanup = runShell(std::string(TPLAB_BINARY) + " trace --cleanup --netns " + ns);
    EXPECT_EQ(cleanup.exitCode, 0) << cleanup.output;
    EXPECT_NE(cleanup.output.find("nft table inet tplab_trace_"), std::string::npos)
        << cleanup.output;
    EXPECT_FALSE(tableIn(ns));
    EXPECT_EQ(tplabInstances(), "");
    EXPECT_EQ(tracefsMounted(), mountedBefore);
    runShell("ip netns del " + ns);
}

TEST(TraceCleanup, NormalEndLeavesNothingOn) {
    if (auto reason = skipReason(); !reason.empty())
        GTEST_SKIP() << reason;
    bool mountedBefore = tracefsMounted();
    std::string ns = "trn" + std::to_string(::getpid() % 100000);
    ASSERT_EQ(runShell("ip netns add " + ns).exitCode, 0);
    auto result =
        runShell(std::string(TPLAB_BINARY) + " trace --netns " + ns + " --port 80 --json -- true");
    EXPECT_EQ(result.exitCode, 0) << result.output;
    EXPECT_FALSE(tableIn(ns));
    EXPECT_EQ(tplabInstances(), "");
    EXPECT_EQ(tracefsMounted(), mountedBefore);
    EXPECT_EQ(runShell("ls /run/tplab 2>/dev/null | grep '^trace-'").output, "");
    runShell("ip netns del " + ns);
}

// UDP, and a drop after the input hook: the kernel's reason comes from the UDP stack.
TEST(TraceUdp, DatagramToAPortNobodyListensOnIsDroppedWithNoSocket) {
    if (auto reason = skipReason(); !reason.empty())
        GTEST_SKIP() << reason;
    std::string a = "tru" + std::to_string(::getpid() % 100000) + "a";
    std::string b = "tru" + std::to_string(::getpid() % 100000) + "b";
    auto made = runShell("set -e; ip netns add " + a + "; ip netns add " + b +
                         "; ip link add tru-a netns " + a + " type veth peer name tru-b netns " +
                         b + "; ip -n " + a + " addr add 192.0.2.2/24 dev tru-a; ip -n " + b +
                         " addr add 192.0.2.1/24 dev tru-b; ip -n " + a +
                         " link set tru-a up; ip -n " + b + " link set tru-b up");
    ASSERT_EQ(made.exitCode, 0) << made.output;
    auto result = runShell(std::string(TPLAB_BINARY) + " trace --netns " + b +
                           " --udp --port 5353 --json -- ip netns exec " + a +
                           " python3 -c \"import socket; socket.socket(socket.AF_INET, "
                           "socket.SOCK_DGRAM).sendto(b'hi', ('192.0.2.1', 5353))\"");
    runShell("ip netns del " + a + "; ip netns del " + b);
    ASSERT_EQ(result.exitCode, 0) << result.output;
    // stdout and stderr come together: the JSON starts at the first '{'.
    auto trace =
        json::parse(result.output.substr(std::min(result.output.find('{'), result.output.size())),
                    nullptr, false);
    ASSERT_FALSE(trace.is_discarded()) << result.output;
    ASSERT_EQ(trace["legs"].size(), 1u) << result.output;
    EXPECT_EQ(trace["legs"][0]["protocol"], "udp");
    const auto& datagram = firstPacket(trace);
    EXPECT_TRUE(hasHook(datagram, "input"));
    EXPECT_EQ(dropReason(datagram), "NO_SOCKET") << result.output;
    EXPECT_EQ(datagram["drop"]["location"], "__udp4_lib_rcv");
}

TEST(TraceFromDoctor, DoctorPointsToTraceWhenACheckFails) {
    if (auto reason = skipReason(); !reason.empty())
        GTEST_SKIP() << reason;
    std::string ns = "trd" + std::to_string(::getpid() % 100000);
    ASSERT_EQ(runShell("ip netns add " + ns).exitCode, 0);
    auto doctor =
        runShell("ip netns exec " + ns + " " + TPLAB_BINARY + " doctor --mode tproxy --port 15002");
    runShell("ip netns del " + ns);
    EXPECT_EQ(doctor.exitCode, 3) << doctor.output;  // nothing set up: failures
    EXPECT_NE(doctor.output.find("tplab trace --port PORT -- COMMAND"), std::string::npos)
        << doctor.output;
}

}  // namespace
}  // namespace tplab::test
