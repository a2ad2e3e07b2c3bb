// `tplab proxy --events -` whose reader stops reading (SIGSTOP): the pipe fills up, yet the
// proxy keeps serving connections, counts the events it had to drop, says so at exit, and exits
// within its bounded flush.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "netns_topology.hpp"
#include "process.hpp"

namespace tplab::test {
namespace {

TEST(EventsStall, AStoppedEventsReaderDoesNotStopTheProxy) {
    if (auto reason = NetnsTopology::unavailableReason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    char dir[] = "/tmp/tplab-stall-XXXXXX";
    std::string workdir = ::mkdtemp(dir);
    std::ofstream(workdir + "/index.html") << "served by server\n";
    const std::string fifo = workdir + "/events.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto proxyLog = [&] { return runShell("cat " + workdir + "/proxy.log").output; };
    {
        NetnsTopology net;
        Process server = net.spawn(
            net.server(),
            {"python3", "-m", "http.server", "--bind", "::", "--directory", workdir, "80"},
            workdir + "/server.log");
        net.mustExec(net.gateway(),
                     "iptables -t nat -A PREROUTING -i veth-c -p tcp --dport 80 "
                     "-j REDIRECT --to-ports 15001");
        Process reader = net.spawn(net.gateway(), {"sh", "-c", "exec cat " + fifo + " >/dev/null"},
                                   workdir + "/reader.log");
        Process proxy = net.spawn(net.gateway(),
                                  {"sh", "-c",
                                   std::string("exec ") + TPLAB_BINARY +
                                       " proxy --mode redirect --listen 0.0.0.0:15001"
                                       " --drain-timeout 1 --events - >" +
                                       fifo},
                                  workdir + "/proxy.log");
        ASSERT_TRUE(net.waitListening(net.server(), 80));
        ASSERT_TRUE(net.waitListening(net.gateway(), 15001)) << proxyLog();
        reader.signal(SIGSTOP);

        // ~3 events of ~250 bytes per connection: 400 connections overflow the 64 KiB pipe
        // several times over. bash's /dev/tcp keeps this to one process.
        auto flood = net.exec(
            net.client(),
            "timeout 60 bash -c 'ok=0; for i in $(seq 400); do exec 3<>/dev/tcp/198.51.100.2/80 "
            "&& printf \"GET /index.html HTTP/1.0\\r\\n\\r\\n\" >&3 && "
            "grep -q \"served by server\" <&3 && ok=$((ok+1)); exec 3<&-; done; echo $ok'");
        EXPECT_EQ(flood.output, "400\n") << proxyLog();
        auto started = std::chrono::steady_clock::now();
        auto curl = net.exec(net.client(), "curl -sS --max-time 5 http://198.51.100.2/index.html");
        EXPECT_EQ(curl.output, "served by server\n") << proxyLog();
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));

        // SIGTERM: drains, tries to flush for 2 s at most, warns, exits 0.
        started = std::chrono::steady_clock::now();
        proxy.signal(SIGTERM);
        EXPECT_EQ(proxy.wait(std::chrono::seconds(10)), 0) << proxyLog();
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
        EXPECT_NE(proxyLog().find("event line(s) dropped"), std::string::npos) << proxyLog();
        reader.signal(SIGCONT);
        reader.stop();
        server.stop();
    }
    std::filesystem::remove_all(workdir);
}

}  // namespace
}  // namespace tplab::test
