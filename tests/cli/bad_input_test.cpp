// The catalogue of bad input: every option of every subcommand given values it must refuse.
// Each case must end with exit 2 and exactly one line on stderr ("tplab: error: ..."), never a
// signal, another exit code or a hang (each run is killed after a bounded wait). Runs the real
// binary; the cases that need root (a file of another user) skip without it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace tplab::test {
namespace {

constexpr auto kRunLimit = std::chrono::seconds(10);

struct Outcome {
    int exitCode = -1;      // -1 unless it exited
    int signal = 0;         // the signal that ended it, 0 if none
    bool timedOut = false;  // killed by us after kRunLimit
    std::string stdoutText;
    std::string stderrText;
};

// fork/exec without a shell, so newlines, quotes and ';' reach tplab exactly as written.
Outcome runTplab(const std::vector<std::string>& args) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
        return {};
    }
    std::vector<std::string> argv = {TPLAB_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& arg : argv) {
        raw.push_back(arg.data());
    }
    raw.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::setpgid(0, 0);
        ::execv(raw[0], raw.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    Outcome outcome;
    auto deadline = std::chrono::steady_clock::now() + kRunLimit;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open = 2;
    while (open > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            outcome.timedOut = true;
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
            break;
        }
        if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) {
            continue;
        }
        for (auto& fd : fds) {
            if (fd.fd < 0 || fd.revents == 0) {
                continue;
            }
            char buffer[4096];
            ssize_t n = ::read(fd.fd, buffer, sizeof(buffer));
            if (n <= 0) {
                fd.fd = -1;
                --open;
            } else {
                (fd.fd == out[0] ? outcome.stdoutText : outcome.stderrText)
                    .append(buffer, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) {
        outcome.exitCode = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        outcome.signal = WTERMSIG(status);
    }
    return outcome;
}

// A scratch directory with the files the path cases point at; @D@ in a case stands for it.
class Scratch {
  public:
    Scratch() {
        char pattern[] = "/tmp/tplab-cli-bad-XXXXXX";
        dir_ = ::mkdtemp(pattern) ? pattern : "/nonexistent";
        auto file = [&](const std::string& name, mode_t mode) {
            std::ofstream(dir_ + "/" + name) << "";
            ::chmod((dir_ + "/" + name).c_str(), mode);
        };
        file("private", 0600);
        file("group-writable", 0664);
        ::symlink((dir_ + "/private").c_str(), (dir_ + "/symlink").c_str());
        ::mkfifo((dir_ + "/fifo").c_str(), 0600);
        file("theirs", 0600);
        ::chown((dir_ + "/theirs").c_str(), 65534, 65534);
        std::ofstream(dir_ + "/password-open") << "s3cret\n";
        ::chmod((dir_ + "/password-open").c_str(), 0644);
        std::ofstream(dir_ + "/password-big") << std::string((1 << 20) + 1, 'x');
        ::chmod((dir_ + "/password-big").c_str(), 0600);
        ::mkdir((dir_ + "/open-dir").c_str(), 0777);
        ::chmod((dir_ + "/open-dir").c_str(), 0777);
        ::mkdir((dir_ + "/not-a-run").c_str(), 0700);
        makeRun("run-empty-pcap", "");
        makeRun("run-truncated-pcap", std::string("\xd4\xc3\xb2\xa1\x02\x00", 6));
        makeRun("run-garbage-pcap", std::string(200, 'x'));
        // A pcapng section header block cut short: the magic is right, the rest is missing.
        makeRun("run-pcapng", std::string("\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a", 12));
        ::mkdir((dir_ + "/run-bad-meta").c_str(), 0700);
        std::ofstream(dir_ + "/run-bad-meta/meta.json") << "{\"points\": [ {\"label\": 3} ]}";
        ::mkdir((dir_ + "/run-not-json").c_str(), 0700);
        std::ofstream(dir_ + "/run-not-json/meta.json") << "points: yes";
    }
    ~Scratch() { std::system(("rm -rf " + dir_).c_str()); }
    const std::string& dir() const { return dir_; }

  private:
    void makeRun(const std::string& name, const std::string& pcap) {
        std::string run = dir_ + "/" + name;
        ::mkdir(run.c_str(), 0700);
        std::ofstream(run + "/meta.json")
            << R"({"lanes": ["client", "server"], "points": [{"label": "client:eth0", )"
            << R"("file": "client-eth0.pcap", "between": ["client", "server"]}]})";
        std::ofstream(run + "/client-eth0.pcap", std::ios::binary) << pcap;
    }
    std::string dir_;
};

struct BadInput {
    std::string name;               // the test's name: [A-Za-z0-9_]
    std::vector<std::string> args;  // argv after "tplab"
    std::string mention;            // the error line must contain this
    bool needsRoot = false;
};

// What gtest prints for a case: its arguments, not a dump of the struct's bytes.
void PrintTo(const BadInput& bad, std::ostream* out) {
    *out << "tplab";
    for (const auto& arg : bad.args) {
        *out << " '" << arg << "'";
    }
}

std::vector<std::string> proxy(std::vector<std::string> extra) {
    std::vector<std::string> args = {"proxy", "--mode", "redirect", "--listen", "127.0.0.1:15990"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

std::vector<std::string> socks(std::vector<std::string> passwordFile) {
    std::vector<std::string> args = {
        "proxy",           "--mode",       "socks5", "--listen",
        "127.0.0.1:15990", "--socks-user", "alice",  "--socks-password-file"};
    args.insert(args.end(), passwordFile.begin(), passwordFile.end());
    return args;
}

// "1,2,...,count": more ports than sk-lookup's BPF port map holds once UDP doubles them.
std::string portList(int count) {
    std::string list;
    for (int port = 1; port <= count; ++port) {
        list += (list.empty() ? "" : ",") + std::to_string(port);
    }
    return list;
}

// "2001:db8::1/128,...": more IPv6 prefixes than sk-lookup's BPF prefix map holds.
std::string hostPrefixList(int count) {
    std::string list;
    for (int host = 1; host <= count; ++host) {
        char prefix[32];
        std::snprintf(prefix, sizeof(prefix), "2001:db8::%x/128", host);
        list += (list.empty() ? "" : ",") + std::string(prefix);
    }
    return list;
}

std::vector<std::string> rules(std::vector<std::string> extra) {
    std::vector<std::string> args = {"rules", "--mode", "tproxy", "--port", "15002"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

const std::vector<BadInput>& catalogue() {
    static const std::vector<BadInput> cases = {
        // tplab itself
        {"NoCommand", {}, "subcommand"},
        {"UnknownCommand", {"frobnicate"}, "frobnicate"},
        {"UnknownOption", proxy({"--frobnicate"}), "--frobnicate"},

        // proxy: mode and listen
        {"ProxyModeMissing", {"proxy", "--listen", "127.0.0.1:15990"}, "--mode"},
        {"ProxyModeUnknown", {"proxy", "--mode", "socks", "--listen", "127.0.0.1:1"}, "socks"},
        {"ProxyModeEmpty", {"proxy", "--mode", "", "--listen", "127.0.0.1:1"}, "--mode"},
        {"ProxySendProxyUnknown",
         {"proxy", "--mode", "tproxy", "--listen", "127.0.0.1:1", "--send-proxy", "v3"},
         "--send-proxy"},
        {"ProxyListenMissing", {"proxy", "--mode", "redirect"}, "--listen"},
        {"ProxySkLookupWithoutDport",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1"},
         "--dport"},
        {"ProxyDportWithoutSkLookup",
         {"proxy", "--mode", "tproxy", "--listen", "127.0.0.1:1", "--dport", "80"},
         "--dport"},
        {"ProxySkLookupDport0",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "0"},
         "--dport"},
        {"ProxySkLookupDportText",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "http"},
         "--dport"},
        {"ProxySkLookupTooManyPorts",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--udp", "--dport",
          portList(600)},
         "--dport"},
        {"ProxySkLookupPrefixNoLength",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "80", "--prefix",
          "198.51.100.0"},
         "has no length"},
        {"ProxySkLookupPrefixHostBits",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "80", "--prefix",
          "198.51.100.0/24,2001:db8:2::1/64"},
         "host bits"},
        {"ProxySkLookupPrefixLength",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "80", "--prefix",
          "2001:db8::/129"},
         "0-128"},
        {"ProxySkLookupPrefixNotAnAddress",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "80", "--prefix",
          "$(reboot)/24"},
         "--prefix"},
        {"ProxySkLookupPrefixIpv4Mapped",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "80", "--prefix",
          "::ffff:198.51.100.0/120"},
         "IPv4-mapped"},
        {"ProxySkLookupTooManyPrefixes",
         {"proxy", "--mode", "sk-lookup", "--listen", "127.0.0.1:1", "--dport", "80", "--prefix",
          hostPrefixList(1025)},
         "--prefix"},
        {"ProxyPrefixWithoutSkLookup",
         {"proxy", "--mode", "tproxy", "--listen", "127.0.0.1:1", "--prefix", "198.51.100.0/24"},
         "--prefix is for --mode sk-lookup"},
        {"ProxyAllowClientNoLength",
         {"proxy", "--mode", "socks5", "--listen", "127.0.0.1:1", "--allow-client", "192.0.2.7"},
         "has no length"},
        {"ProxyAllowClientHostBits",
         {"proxy", "--mode", "redirect", "--listen", "127.0.0.1:1", "--allow-client",
          "198.51.100.0/24,192.0.2.1/24"},
         "host bits"},
        {"ProxyAllowDestLength",
         {"proxy", "--mode", "socks5", "--listen", "127.0.0.1:1", "--allow-dest", "::1/129"},
         "0-128"},
        {"ProxyAllowDestEmpty",
         {"proxy", "--mode", "http-connect", "--listen", "127.0.0.1:1", "--allow-dest", ""},
         "--allow-dest"},
        {"ProxyDenyDestNotAnAddress",
         {"proxy", "--mode", "socks5", "--listen", "127.0.0.1:1", "--deny-dest", "$(reboot)/24"},
         "--deny-dest"},
        {"ProxyDenyDestName",
         {"proxy", "--mode", "tproxy", "--listen", "127.0.0.1:1", "--deny-dest", "example.com/32"},
         "not an IPv4 address"},
        {"ProxyListenNoValue", {"proxy", "--mode", "redirect", "--listen"}, "--listen"},
        {"ProxyListenEmpty", {"proxy", "--mode", "redirect", "--listen", ""}, "--listen"},
        {"ProxyListenPort0", {"proxy", "--mode", "redirect", "--listen", "0.0.0.0:0"}, "port 0"},
        {"ProxyListenPort65536",
         {"proxy", "--mode", "redirect", "--listen", "0.0.0.0:65536"},
         "65536"},
        {"ProxyListenPortNegative",
         {"proxy", "--mode", "redirect", "--listen", "127.0.0.1:-1"},
         "--listen"},
        {"ProxyListenNoPort", {"proxy", "--mode", "redirect", "--listen", "127.0.0.1"}, "--listen"},
        {"ProxyListenBadAddress",
         {"proxy", "--mode", "redirect", "--listen", "999.0.0.1:80"},
         "999.0.0.1"},
        {"ProxyListenHostName",
         {"proxy", "--mode", "redirect", "--listen", "localhost:80"},
         "--listen"},
        {"ProxyListenUnbracketedIpv6",
         {"proxy", "--mode", "redirect", "--listen", "2001:db8::1:80"},
         "[ADDR]:PORT"},
        {"ProxyListenSpace",
         {"proxy", "--mode", "redirect", "--listen", "127.0.0.1 :80"},
         "--listen"},
        {"ProxyListenSemicolon",
         {"proxy", "--mode", "redirect", "--listen", "127.0.0.1:80;reboot"},
         "--listen"},
        {"ProxyListenQuote",
         {"proxy", "--mode", "redirect", "--listen", "'127.0.0.1:80'"},
         "--listen"},
        {"ProxyListenNewline",
         {"proxy", "--mode", "redirect", "--listen", "127.0.0.1:80\n"},
         "--listen"},
        {"ProxyUdpWithRedirect", proxy({"--udp"}), "redirect mode cannot proxy UDP"},
        {"ProxyExtraArgument", proxy({"stray"}), "stray"},

        // proxy: --events
        {"ProxyEventsEmpty", proxy({"--events", ""}), "--events"},
        {"ProxyEventsMissingDirectory", proxy({"--events", "/nonexistent/x"}), "/nonexistent/x"},
        {"ProxyEventsSymlink", proxy({"--events", "@D@/symlink"}), "symbolic link"},
        {"ProxyEventsFifo", proxy({"--events", "@D@/fifo"}), "FIFO"},
        {"ProxyEventsDirectory", proxy({"--events", "@D@"}), "directory"},
        {"ProxyEventsDevice", proxy({"--events", "/dev/null"}), "character device"},
        {"ProxyEventsGroupWritable", proxy({"--events", "@D@/group-writable"}),
         "writable by group or others"},
        {"ProxyEventsOfAnotherUser", proxy({"--events", "@D@/theirs"}), "belongs to uid", true},
        {"ProxyEventsInAnOpenDirectory", proxy({"--events", "@D@/open-dir/events"}), "sticky bit"},
        {"ProxyEventsUnwritable", proxy({"--events", "/proc/version"}), "/proc/version"},

        // proxy: --socks-password-file, checked like --events before a byte is read
        {"ProxyPasswordFileOpenToOthers", socks({"@D@/password-open"}), "mode 0644"},
        {"ProxyPasswordFileSymlink", socks({"@D@/symlink"}), "symbolic link"},
        {"ProxyPasswordFileOfAnotherUser", socks({"@D@/theirs"}), "belongs to uid", true},
        {"ProxyPasswordFileFifo", socks({"@D@/fifo"}), "FIFO"},
        {"ProxyPasswordFileDevZero", socks({"/dev/zero"}), "character device"},
        {"ProxyPasswordFileOverOneMebibyte", socks({"@D@/password-big"}), "more than 1048576"},
        {"ProxyPasswordFileMissing", socks({"/nonexistent/pw"}), "/nonexistent/pw"},
        {"ProxyMaxConnectionsPerClientZero", proxy({"--max-connections-per-client", "0"}),
         "--max-connections-per-client"},
        {"ProxyMaxConnectionsPerClientOverTotal",
         proxy({"--max-connections", "64", "--max-connections-per-client", "65"}),
         "exceeds --max-connections"},

        // proxy: numbers
        {"ProxyMarkText", proxy({"--mark", "lots"}), "--mark"},
        {"ProxyMarkNegative", proxy({"--mark", "-1"}), "--mark"},
        {"ProxyMarkTooBig", proxy({"--mark", "4294967296"}), "--mark"},
        {"ProxyMarkEmpty", proxy({"--mark", ""}), "--mark"},
        {"ProxyConnectTimeoutZero", proxy({"--connect-timeout", "0"}), "--connect-timeout"},
        {"ProxyConnectTimeoutNegative", proxy({"--connect-timeout", "-1"}), "--connect-timeout"},
        {"ProxyConnectTimeoutHuge", proxy({"--connect-timeout", "1e10"}), "out of range"},
        {"ProxyConnectTimeoutNan", proxy({"--connect-timeout", "nan"}), "finite"},
        {"ProxyConnectTimeoutInf", proxy({"--connect-timeout", "inf"}), "finite"},
        {"ProxyConnectTimeoutUnit", proxy({"--connect-timeout", "5s"}), "not a number"},
        {"ProxyConnectTimeoutEmpty", proxy({"--connect-timeout", ""}), "--connect-timeout"},
        {"ProxyIdleTimeoutNegative", proxy({"--idle-timeout", "-1"}), "--idle-timeout"},
        {"ProxyIdleTimeoutHuge", proxy({"--idle-timeout", "1e10"}), "out of range"},
        {"ProxyIdleTimeoutNan", proxy({"--idle-timeout", "NaN"}), "finite"},
        {"ProxyIdleTimeoutTiny", proxy({"--idle-timeout", "1e-9"}), "out of range"},
        {"ProxyDrainTimeoutNegative", proxy({"--drain-timeout", "-0.5"}), "--drain-timeout"},
        {"ProxyDrainTimeoutHuge", proxy({"--drain-timeout", "3601"}), "out of range"},
        {"ProxyDrainTimeoutInf", proxy({"--drain-timeout", "-inf"}), "finite"},
        {"ProxyUdpIdleTimeoutZero", proxy({"--udp-idle-timeout", "0"}), "--udp-idle-timeout"},
        {"ProxyUdpIdleTimeoutHuge", proxy({"--udp-idle-timeout", "1e300"}), "out of range"},
        {"ProxyUdpIdleTimeoutNan", proxy({"--udp-idle-timeout", "nan"}), "finite"},
        {"ProxyMaxConnectionsZero", proxy({"--max-connections", "0"}), "--max-connections"},
        {"ProxyMaxConnectionsNegative", proxy({"--max-connections", "-1"}), "--max-connections"},
        {"ProxyMaxConnectionsHuge", proxy({"--max-connections", "1048577"}), "--max-connections"},
        {"ProxyMaxConnectionsText", proxy({"--max-connections", "many"}), "--max-connections"},
        {"ProxyMaxUdpSessionsZero", proxy({"--max-udp-sessions", "0"}), "--max-udp-sessions"},
        {"ProxyMaxUdpSessionsHuge", proxy({"--max-udp-sessions", "99999999999999999999"}),
         "--max-udp-sessions"},

        // proxy: --user
        {"ProxyUserUnknown", proxy({"--user", "no-such-user-tplab"}), "no such user"},
        {"ProxyUserEmpty", proxy({"--user", ""}), "--user"},
        {"ProxyUserNewline", proxy({"--user", "nobody\nroot"}), "no such user"},
        {"ProxyUserUnknownUid", proxy({"--user", "4000000000"}), "no such user"},

        // capture
        {"CaptureAtMissing", {"capture"}, "--at"},
        {"CaptureAtEmpty", {"capture", "--at", ""}, "--at"},
        {"CaptureAtNoInterface", {"capture", "--at", "gw:"}, "names no interface"},
        {"CaptureAtInterfaceTooLong", {"capture", "--at", "gw:0123456789abcdef"}, "at most 15"},
        {"CaptureAtInterfaceSpace", {"capture", "--at", "gw:veth c"}, "not allowed"},
        {"CaptureAtInterfaceSemicolon", {"capture", "--at", "gw:a;b"}, "not allowed"},
        {"CaptureAtInterfaceQuote", {"capture", "--at", "gw:a'b"}, "not allowed"},
        {"CaptureAtInterfaceNewline", {"capture", "--at", "gw:a\nb"}, "not allowed"},
        {"CaptureAtNamespaceDotDot", {"capture", "--at", "..:lo"}, "not a namespace name"},
        {"CaptureAtNamespaceSlash", {"capture", "--at", "a/b:lo"}, "not allowed"},
        {"CaptureAtUnknownNamespace", {"capture", "--at", "no-such-ns-tplab:lo"}, "no-such-ns"},
        {"CaptureAtTwice", {"capture", "--at", "lo", "--at", ":lo"}, "twice"},
        {"CaptureDurationZero", {"capture", "--at", "lo", "--duration", "0"}, "--duration"},
        {"CaptureDurationNegative", {"capture", "--at", "lo", "--duration", "-1"}, "--duration"},
        {"CaptureDurationNan", {"capture", "--at", "lo", "--duration", "nan"}, "--duration"},
        {"CaptureDurationHuge", {"capture", "--at", "lo", "--duration", "1e10"}, "--duration"},
        {"CaptureCountZero", {"capture", "--at", "lo", "--count", "0"}, "--count"},
        {"CaptureCountNegative", {"capture", "--at", "lo", "--count", "-5"}, "--count"},
        {"CaptureBadFilter", {"capture", "--at", "lo", "--filter", "tcp port ((("}, "filter"},
        {"CaptureOutUnwritable", {"capture", "--at", "lo", "-o", "/proc/tplab"}, "/proc/tplab"},
        {"CaptureOutUnderMissingDirectory",
         {"capture", "--at", "lo", "-o", "/nonexistent/a/b"},
         "/nonexistent/a/b"},

        // report
        {"ReportNoRun", {"report"}, "runs"},
        {"ReportMissingDirectory", {"report", "/nonexistent/run"}, "/nonexistent/run"},
        {"ReportFileNotDirectory", {"report", "/etc/hostname"}, "/etc/hostname"},
        {"ReportNotARunDirectory", {"report", "@D@/not-a-run"}, "meta.json"},
        {"ReportMetaNotJson", {"report", "@D@/run-not-json"}, "meta.json"},
        {"ReportMetaWrongTypes", {"report", "@D@/run-bad-meta"}, "meta.json"},
        {"ReportEmptyPcap", {"report", "@D@/run-empty-pcap"}, "client-eth0.pcap"},
        {"ReportTruncatedPcapHeader", {"report", "@D@/run-truncated-pcap"}, "client-eth0.pcap"},
        {"ReportGarbagePcap", {"report", "@D@/run-garbage-pcap"}, "client-eth0.pcap"},
        {"ReportBrokenPcapng", {"report", "@D@/run-pcapng"}, "client-eth0.pcap"},
        {"ReportJsonUnwritable",
         {"report", "-q", "@D@/run-empty-pcap", "--json", "/nonexistent/r.json"},
         "/nonexistent/r.json"},
        {"ReportHtmlIntoADirectory",
         {"report", "-q", "@D@/run-empty-pcap", "--html", "@D@"},
         "--html"},

        // rules (value validation is being fixed on another branch)
        {"RulesModeMissing", {"rules", "--port", "15002"}, "--mode"},
        {"RulesModeUnknown", {"rules", "--mode", "socks", "--port", "1"}, "socks"},
        {"RulesPortMissing", {"rules", "--mode", "tproxy"}, "--port"},
        {"RulesPort0", {"rules", "--mode", "tproxy", "--port", "0"}, "--port"},
        {"RulesPort65536", {"rules", "--mode", "tproxy", "--port", "65536"}, "--port"},
        {"RulesFirewallUnknown", rules({"--firewall", "pf"}), "--firewall"},
        {"RulesDport0", rules({"--dport", "0"}), "--dport"},
        {"RulesDport65536", rules({"--dport", "80,65536"}), "--dport"},
        {"RulesTable0", rules({"--table", "0"}), "--table"},
        {"RulesTable253", rules({"--table", "253"}), "--table"},
        {"RulesMarkText", rules({"--mark", "lots"}), "--mark"},
        {"RulesMarkNegative", rules({"--mark", "-1"}), "--mark"},
        {"RulesMarkOverlapsTproxyMark", rules({"--local", "--mark", "1"}), "--mark"},
        {"RulesInInterfaceTooLong", rules({"--in-interface", "0123456789abcdef"}), "interface"},
        {"RulesInInterfaceSpace", rules({"--in-interface", "veth c"}), "interface"},
        {"RulesInInterfaceSemicolon", rules({"--in-interface", "eth0;reboot"}), "interface"},
        {"RulesInInterfaceQuote", rules({"--in-interface", "eth0\""}), "interface"},
        {"RulesInInterfaceNewline", rules({"--in-interface", "eth0\nx"}), "interface"},
        {"RulesInInterfaceEmpty", rules({"--in-interface", ""}), "interface"},
        {"RulesToAddressBad",
         {"rules", "--mode", "dnat", "--port", "15001", "--to-address", "999.1.1.1"},
         "--to-address"},
        {"RulesToAddressIpv6InIpv4",
         {"rules", "--mode", "dnat", "--port", "15001", "--to-address", "2001:db8::1"},
         "--to-address"},
        {"RulesToAddress6Bad",
         {"rules", "--mode", "dnat", "--port", "15001", "--to-address6", "192.0.2.1"},
         "--to-address6"},
        {"RulesUdpWithRedirect",
         {"rules", "--mode", "redirect", "--port", "15001", "--udp"},
         "UDP"},
        {"RulesApplyAndRemove", rules({"--apply", "--remove"}), "--apply"},
        {"RulesAnyipWithPort",
         {"rules", "--mode", "anyip", "--port", "15001", "--in-interface", "veth-c"},
         "--port"},
        {"RulesAnyipUnscoped", {"rules", "--mode", "anyip", "--dport", "80"}, "--in-interface"},
        {"RulesAnyipLocal",
         {"rules", "--mode", "anyip", "--in-interface", "veth-c", "--local"},
         "--local"},
        {"RulesAnyipPrefixNoLength",
         {"rules", "--mode", "anyip", "--in-interface", "veth-c", "--prefix", "198.51.100.0"},
         "--prefix"},
        {"RulesAnyipPrefixHostBits",
         {"rules", "--mode", "anyip", "--in-interface", "veth-c", "--ipv4", "--prefix",
          "198.51.100.7/24"},
         "host bits"},
        {"RulesAnyipPrefixLength",
         {"rules", "--mode", "anyip", "--in-interface", "veth-c", "--prefix", "2001:db8::/129"},
         "--prefix"},
        {"RulesAnyipPrefixShellText",
         {"rules", "--mode", "anyip", "--in-interface", "veth-c", "--prefix", "$(reboot)/24"},
         "--prefix"},
        {"RulesAnyipIpv6WithoutIpv6Prefix",
         {"rules", "--mode", "anyip", "--in-interface", "veth-c", "--prefix", "198.51.100.0/24"},
         "IPv6"},
        {"RulesSkLookupWithPort",
         {"rules", "--mode", "sk-lookup", "--port", "15001", "--in-interface", "veth-c"},
         "--port"},
        {"RulesSkLookupUnscoped",
         {"rules", "--mode", "sk-lookup", "--dport", "80"},
         "--in-interface"},
        {"RulesSkLookupSpoof",
         {"rules", "--mode", "sk-lookup", "--in-interface", "veth-c", "--spoof-source"},
         "sk-lookup"},
        {"RulesPrefixWithoutAnyip",
         {"rules", "--mode", "tproxy", "--port", "15001", "--prefix", "198.51.100.0/24"},
         "--prefix"},

        // doctor
        {"DoctorModeUnknown", {"doctor", "--mode", "socks"}, "socks"},
        {"DoctorPort0", {"doctor", "--port", "0"}, "--port"},
        {"DoctorPort65536", {"doctor", "--port", "65536"}, "--port"},
        {"DoctorPortEmpty", {"doctor", "--port", ""}, "--port"},
        {"DoctorPortText", {"doctor", "--port", "http"}, "--port"},
        {"DoctorUnknownOption", {"doctor", "--fix"}, "--fix"},
        {"DoctorMarkText", {"doctor", "--mark", "lots"}, "--mark"},
        {"DoctorMarkNegative", {"doctor", "--mark", "-1"}, "--mark"},
        {"DoctorMarkTooBig", {"doctor", "--mark", "4294967296"}, "--mark"},
        {"DoctorMarkEmpty", {"doctor", "--mark", ""}, "--mark"},

        // lab: only a name from tplab lab --list, never a path
        {"LabNoName", {"lab"}, "--list"},
        {"LabUnknown", {"lab", "no-such-lab"}, "no-such-lab"},
        {"LabPathTraversal", {"lab", "../../etc/passwd"}, "../../etc/passwd"},
        {"LabAbsolutePath", {"lab", "/bin/sh"}, "/bin/sh"},
        {"LabTheLibrary", {"lab", "lib"}, "lib"},
        {"LabWithSuffix", {"lab", "quickstart.sh"}, "quickstart.sh"},
        {"LabUnknownOption", {"lab", "--bogus"}, "--bogus"},

        // trace: every value that reaches an nft rule, a path or a command is checked first
        {"TraceNoPort", {"trace"}, "--port"},
        {"TracePort0", {"trace", "--port", "0"}, "--port"},
        {"TraceFivePorts",
         {"trace", "--port", "1", "--port", "2", "--port", "3", "--port", "4", "--port", "5"},
         "--port"},
        {"TraceHostInjection",
         {"trace", "--port", "80", "--host", "192.0.2.2; flush ruleset"},
         "--host"},
        {"TraceHostWrongFamily",
         {"trace", "--port", "80", "--host", "2001:db8::1", "--family", "4"},
         "IPv4"},
        {"TraceFamily5", {"trace", "--port", "80", "--family", "5"}, "--family"},
        {"TraceNetnsPath", {"trace", "--port", "80", "--netns", "../../proc/1/ns/net"}, "--netns"},
        {"TraceNetnsMissing",
         {"trace", "--port", "80", "--netns", "tplab-no-such-ns"},
         "no such namespace"},
        {"TraceTimeoutNan", {"trace", "--port", "80", "--timeout", "nan"}, "--timeout"},
        {"TraceLegs0", {"trace", "--port", "80", "--legs", "0"}, "--legs"},
        {"TraceJsonFileEmpty", {"trace", "--port", "80", "--json-file", ""}, "--json-file"},
        {"TraceCleanupWithFlow", {"trace", "--cleanup", "--port", "80"}, "--cleanup"},
    };
    return cases;
}

class BadInputCatalogue : public ::testing::TestWithParam<BadInput> {
  protected:
    static void SetUpTestSuite() { scratch = new Scratch(); }
    static void TearDownTestSuite() {
        delete scratch;
        scratch = nullptr;
    }
    static Scratch* scratch;
};
Scratch* BadInputCatalogue::scratch = nullptr;

std::string printable(const std::string& text) {
    std::string shown;
    for (char c : text) {
        shown += c == '\n' ? std::string("\\n") : std::string(1, c);
    }
    return shown;
}

TEST_P(BadInputCatalogue, GetsOneErrorLineAndExitCodeTwo) {
    const BadInput& bad = GetParam();
    if (bad.needsRoot && ::geteuid() != 0) {
        GTEST_SKIP() << "needs root to make a file of another user";
    }
    std::vector<std::string> args;
    std::string shown = "tplab";
    for (std::string arg : bad.args) {
        for (std::size_t at; (at = arg.find("@D@")) != std::string::npos;) {
            arg.replace(at, 3, scratch->dir());
        }
        shown += " '" + printable(arg) + "'";
        args.push_back(arg);
    }
    Outcome outcome = runTplab(args);
    ASSERT_FALSE(outcome.timedOut) << shown << ": still running after 10 s";
    ASSERT_EQ(outcome.signal, 0) << shown << ": killed by signal " << outcome.signal << "\n"
                                 << outcome.stderrText;
    EXPECT_EQ(outcome.exitCode, 2) << shown << "\n" << outcome.stderrText;
    EXPECT_EQ(std::count(outcome.stderrText.begin(), outcome.stderrText.end(), '\n'), 1)
        << shown << ": stderr is not one line:\n"
        << outcome.stderrText;
    EXPECT_EQ(outcome.stderrText.rfind("tplab: error: ", 0), 0u) << shown << "\n"
                                                                 << outcome.stderrText;
    EXPECT_NE(outcome.stderrText.find(bad.mention), std::string::npos)
        << shown << ": the error should name '" << bad.mention << "':\n"
        << outcome.stderrText;
}

INSTANTIATE_TEST_SUITE_P(, BadInputCatalogue, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<BadInput>& testCase) {
                             return testCase.param.name;
                         });

}  // namespace
}  // namespace tplab::test
