// Reading the system for the doctor: /proc/sys, iptables-save, nft -j, ip -j rule/route, ss, and
// the listener's own socket options (borrowed from its process with pidfd_getfd).
#include "system_snapshot.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "fd.hpp"
#include "shell_command.hpp"

namespace tplab {
namespace {

std::optional<std::string> readFile(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::string value;
    std::getline(in, value);
    return value;
}

std::string output(std::vector<std::string> argv) {
    auto outcome = runCommand(ShellCommand{std::move(argv), ""});
    return outcome.exitCode == 0 ? outcome.output : "";
}

void readSysctl(SystemSnapshot& snapshot, const std::string& key) {
    std::string path = "/proc/sys/" + std::regex_replace(key, std::regex("\\."), "/");
    if (auto value = readFile(path))
        snapshot.sysctls[key] = *value;
}

std::vector<std::string> interfaces() {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir("/proc/sys/net/ipv4/conf")) {
        while (dirent* entry = ::readdir(dir)) {
            std::string name = entry->d_name;
            if (name != "." && name != ".." && name != "all" && name != "default") {
                names.push_back(name);
            }
        }
        ::closedir(dir);
    }
    return names;
}

bool hasCapNetAdmin() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("CapEff:", 0) == 0) {
            unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
            return (caps >> 12) & 1;  // CAP_NET_ADMIN
        }
    }
    return false;
}

bool listed(const std::string& path, const std::string& name) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        if (line == name)
            return true;
    }
    return false;
}

// The kernel's build configuration, read once (it is a compressed file, not a lookup).
const std::string& kernelConfig() {
    static const std::string config =
        runCommand(ShellCommand{{"sh", "-c", "zcat /proc/config.gz 2>/dev/null"}, ""}).output;
    return config;
}

bool configured(const std::string& option) {
    return kernelConfig().find(option + "=y") != std::string::npos ||
           kernelConfig().find(option + "=m") != std::string::npos;
}

// A feature is there if the kernel registered it (/proc/net/ip_tables_*), was built with it
// (/proc/config.gz), or has its module loaded, built in or installed.
bool kernelFeature(const std::string& module, const std::string& registered,
                   const std::string& name, const std::string& option) {
    if (!registered.empty() && listed(registered, name))
        return true;
    if (configured(option))
        return true;
    if (::access(("/sys/module/" + module).c_str(), F_OK) == 0)
        return true;
    return runCommand(ShellCommand{{"modinfo", "-n", module}, ""}).exitCode == 0;
}

bool hasBridge(const std::vector<std::string>& interfaces) {
    for (const auto& name : interfaces) {
        if (::access(("/sys/class/net/" + name + "/bridge").c_str(), F_OK) == 0)
            return true;
    }
    return false;
}

// Borrows the listening socket from its process (pidfd_getfd; root, kernel 5.6+) and asks it.
std::optional<bool> isTransparent(pid_t pid, int fd, bool v6) {
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd)
        return std::nullopt;
    Fd borrowed(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
    if (!borrowed)
        return std::nullopt;
    int value = 0;
    socklen_t length = sizeof(value);
    int rc = v6 ? ::getsockopt(borrowed.get(), SOL_IPV6, IPV6_TRANSPARENT, &value, &length)
                : ::getsockopt(borrowed.get(), SOL_IP, IP_TRANSPARENT, &value, &length);
    if (rc != 0)
        return std::nullopt;
    return value != 0;
}

std::vector<ListenerInfo> listeners(const char* flags, int port) {
    std::vector<ListenerInfo> found;
    std::istringstream lines(output({"ss", "-H", flags, "sport", "=", ":" + std::to_string(port)}));
    std::regex user("\\(\"([^\"]+)\",pid=(\\d+),fd=(\\d+)\\)");
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string state, recvQ, sendQ, local;
        words >> state >> recvQ >> sendQ >> local;
        ListenerInfo info{local, "", std::nullopt};
        std::smatch match;
        if (std::regex_search(line, match, user)) {
            info.process = match[1];
            info.transparent = isTransparent(std::stoi(match[2]), std::stoi(match[3]),
                                             local.front() == '[' || local.front() == '*');
        }
        found.push_back(info);
    }
    return found;
}

// The `drop` column of /proc/net/stat/nf_conntrack (one hex row per CPU, this namespace's
// counters): packets the kernel dropped because no conntrack entry could be made.
long conntrackDrops() {
    std::ifstream table("/proc/net/stat/nf_conntrack");
    std::string header;
    if (!std::getline(table, header)) {
        return 0;
    }
    std::istringstream names(header);
    std::size_t column = 0;
    bool found = false;
    for (std::string name; names >> name; ++column) {
        if (name == "drop") {
            found = true;
            break;
        }
    }
    long total = 0;
    for (std::string row; found && std::getline(table, row);) {
        std::istringstream fields(row);
        std::string field;
        for (std::size_t i = 0; i <= column && fields >> field; ++i) {
        }
        total += std::strtol(field.c_str(), nullptr, 16);
    }
    return total;
}

}  // namespace

SystemSnapshot takeSnapshot(int port, bool skLookup) {
    SystemSnapshot snapshot;
    snapshot.interfaces = interfaces();
    for (const char* key :
         {"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.rp_filter",
          "net.ipv4.conf.all.src_valid_mark", "net.ipv4.conf.all.route_localnet",
          "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
          "net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max"}) {
        readSysctl(snapshot, key);
    }
    for (const auto& name : snapshot.interfaces) {
        readSysctl(snapshot, "net.ipv4.conf." + name + ".rp_filter");
        readSysctl(snapshot, "net.ipv4.conf." + name + ".src_valid_mark");
    }
    snapshot.iptablesRules = output({"iptables-save"});
    snapshot.ip6tablesRules = output({"ip6tables-save"});
    snapshot.nftRules = parseNftRuleset(output({"nft", "-j", "list", "ruleset"}));
    snapshot.ipRules4 = parseIpRules(output({"ip", "-4", "-j", "rule"}));
    snapshot.ipRules6 = parseIpRules(output({"ip", "-6", "-j", "rule"}));
    for (const auto& table : tablesOf(snapshot.ipRules4)) {
        snapshot.routes4[table] =
            parseRoutes(output({"ip", "-4", "-j", "route", "show", "table", table}));
    }
    for (const auto& table : tablesOf(snapshot.ipRules6)) {
        snapshot.routes6[table] =
            parseRoutes(output({"ip", "-6", "-j", "route", "show", "table", table}));
    }
    snapshot.capNetAdmin = hasCapNetAdmin();
    snapshot.kernelFeatures["xt_TPROXY"] = kernelFeature(
        "xt_TPROXY", "/proc/net/ip_tables_targets", "TPROXY", "CONFIG_NETFILTER_XT_TARGET_TPROXY");
    snapshot.kernelFeatures["xt_socket"] = kernelFeature(
        "xt_socket", "/proc/net/ip_tables_matches", "socket", "CONFIG_NETFILTER_XT_MATCH_SOCKET");
    snapshot.kernelFeatures["nft_tproxy"] =
        kernelFeature("nft_tproxy", "", "", "CONFIG_NFT_TPROXY");
    snapshot.kernelFeatures["nft_socket"] =
        kernelFeature("nft_socket", "", "", "CONFIG_NFT_SOCKET");
    snapshot.hasBridge = hasBridge(snapshot.interfaces);
    if (auto count = snapshot.sysctls.find("net.netfilter.nf_conntrack_count");
        count != snapshot.sysctls.end()) {
        snapshot.conntrackCount = std::stol(count->second);
    }
    if (auto max = snapshot.sysctls.find("net.netfilter.nf_conntrack_max");
        max != snapshot.sysctls.end()) {
        snapshot.conntrackMax = std::stol(max->second);
    }
    snapshot.conntrackMaxWritable = ::access("/proc/sys/net/netfilter/nf_conntrack_max", W_OK) == 0;
    snapshot.conntrackDrops = conntrackDrops();
    if (port > 0) {
        snapshot.tcpListeners = listeners("-ltnp", port);
        snapshot.udpListeners = listeners("-lunp", port);
    }
    if (skLookup) {
        snapshot.skLookup = readSkLookupState();
    }
    return snapshot;
}

}  // namespace tplab
