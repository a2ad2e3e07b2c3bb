// `tplab capture`: libpcap on interfaces inside network namespaces, all at once.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "fd.hpp"
#include "live_capture.hpp"
#include "option_checks.hpp"
#include "result.hpp"

namespace tplab {
namespace {

struct CaptureCommandOptions {
    std::vector<std::string> at;
    std::string outputDir = ".";
    std::string filter;
    double duration = 0;
    std::uint64_t count = 0;
    std::string readyFile;
};

std::string checkPoint(const std::string& text) {
    try {
        CapturePoint::parse(text);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

void writeReadyFile(const std::string& path) {
    Fd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file) {
        throw setupError(errno, "open(" + path + ")");
    }
    const char text[] = "ready\n";
    if (::write(file.get(), text, sizeof(text) - 1) < 0) {
        throw setupError(errno, "write(" + path + ")");
    }
}

// Waits for SIGINT/SIGTERM, the duration, or every point reaching --count.
void waitForStop(LiveCapture& capture, double duration) {
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    timespec started{};
    ::clock_gettime(CLOCK_MONOTONIC, &started);
    while (!capture.allStopped()) {
        timespec tick{0, 50'000'000};
        if (::sigtimedwait(&stopSignals, nullptr, &tick) > 0) {
            return;
        }
        timespec now{};
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = static_cast<double>(now.tv_sec - started.tv_sec) +
                         static_cast<double>(now.tv_nsec - started.tv_nsec) / 1e9;
        if (duration > 0 && elapsed >= duration) {
            return;
        }
    }
}

int runCapture(const CaptureCommandOptions& cli) {
    CaptureOptions options;
    for (const auto& text : cli.at) {
        options.points.push_back(CapturePoint::parse(text));
    }
    for (std::size_t i = 0; i < options.points.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (options.points[i].fileName() == options.points[j].fileName()) {
                throw UsageError("--at " + options.points[i].label() + " is given twice");
            }
        }
    }
    options.outputDir = cli.outputDir;
    options.filter = cli.filter;
    if (cli.count > 0) {
        options.count = cli.count;
    }
    if (::mkdir(cli.outputDir.c_str(), 0755) != 0 && errno != EEXIST) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == EROFS) {
            throw UsageError("-o " + cli.outputDir + ": cannot create it (" + errnoText(errno) +
                             ")");
        }
        throw setupError(errno, "mkdir(" + cli.outputDir + ")");
    }

    // Blocked before the threads start, so they inherit the mask and only sigtimedwait sees them.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

    LiveCapture capture(options);
    try {
        capture.start();
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory) {  // no such namespace
            throw UsageError(e.what());
        }
        throw;
    }
    if (!cli.readyFile.empty()) {
        writeReadyFile(cli.readyFile);
    }
    std::fprintf(stderr, "tplab: capturing on %zu point(s)%s\n", options.points.size(),
                 cli.duration > 0 || cli.count > 0 ? "" : "; stop with Ctrl-C");
    waitForStop(capture, cli.duration);
    auto results = capture.finish();

    std::size_t width = 5;
    for (const auto& result : results) {
        width = std::max(width, result.point.label().size());
    }
    std::printf("%-*s  %8s  %8s  %s\n", static_cast<int>(width), "point", "captured", "dropped",
                "file");
    for (const auto& result : results) {
        std::printf("%-*s  %8llu  %8llu  %s\n", static_cast<int>(width),
                    result.point.label().c_str(), static_cast<unsigned long long>(result.written),
                    static_cast<unsigned long long>(result.dropped), result.file.c_str());
    }
    return 0;
}

}  // namespace

Command setupCaptureCommand(CLI::App& parent) {
    auto cli = std::make_shared<CaptureCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "capture",
        "Capture packets on interfaces inside network namespaces, all at once: one thread per\n"
        "point enters its namespace (setns) and opens it with libpcap. Writes one .pcap per\n"
        "point, named NS-IFACE.pcap, readable by tcpdump -r and Wireshark. See docs/capture.md.");
    app->add_option("--at", cli->at,
                    "A capture point NS:IFACE, e.g. gateway:veth-c (a name under /run/netns); "
                    "repeat for each point")
        ->required()
        ->check(CLI::Validator(checkPoint, "NS:IFACE", "capture point"));
    app->add_option("-o,--out", cli->outputDir, "Directory for the .pcap files")
        ->capture_default_str();
    app->add_option("-f,--filter", cli->filter,
                    "BPF filter, as tcpdump takes it, e.g. 'tcp port 80'");
    app->add_option("--duration", cli->duration, "Stop after this many seconds")
        ->check(secondsBetween(0.001, 7 * 86400));
    app->add_option("--count", cli->count, "Stop each point after this many packets")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
    app->add_option("--ready-file", cli->readyFile,
                    "Write this file once every point is capturing, so a script can start its "
                    "traffic then and lose nothing");
    return Command{app, [cli] { return runCapture(*cli); }};
}

}  // namespace tplab
