// `tplab report`: the hop-by-hop report of one or more lab runs, as text, JSON and HTML.
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "flow_analysis.hpp"
#include "html_report.hpp"
#include "result.hpp"
#include "text_report.hpp"

namespace tplab {
namespace {

struct ReportCommandOptions {
    std::vector<std::string> runs;
    std::string jsonPath;
    std::string textPath;
    std::string htmlPath;
    bool quiet = false;
};

// Opened before any work, so that an output path that cannot be written is bad input (exit 2)
// and costs nothing.
std::ofstream openOutput(const std::string& option, const std::string& path) {
    std::ofstream out;
    if (!path.empty()) {
        errno = 0;
        out.open(path, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw UsageError(option + " " + path + ": cannot write it (" +
                             errnoText(errno ? errno : EIO) + ")");
        }
    }
    return out;
}

void writeFile(std::ofstream& out, const std::string& path, const std::string& content) {
    out << content;
    out.flush();
    if (!out) {
        throw setupError(errno ? errno : EIO, "write(" + path + ")");
    }
}

// A run directory that is not what the labs write (no meta.json, a broken pcap) is bad input.
RunRecords loadRun(const std::string& directory) {
    try {
        return loadRunRecords(directory);
    } catch (const std::system_error&) {
        throw;
    } catch (const std::exception& e) {
        throw UsageError(std::string("run ") + directory + ": " + e.what());
    }
}

int runReport(const ReportCommandOptions& cli) {
    auto textOut = openOutput("--text", cli.textPath);
    auto htmlOut = openOutput("--html", cli.htmlPath);
    auto jsonOut = openOutput("--json", cli.jsonPath);
    std::vector<RunRecords> runs;
    for (const auto& directory : cli.runs) {
        runs.push_back(loadRun(directory));
    }
    auto report = buildReport(runs);
    std::string text = renderTextReport(report);
    if (!cli.quiet) {
        std::fputs(text.c_str(), stdout);
    }
    if (!cli.textPath.empty()) {
        writeFile(textOut, cli.textPath, text);
    }
    if (!cli.htmlPath.empty()) {
        writeFile(htmlOut, cli.htmlPath, renderHtmlReport(report));
    }
    if (!cli.jsonPath.empty()) {
        // Client-written strings are escaped where they are decoded; `replace` keeps a byte missed
        // there from ever failing the whole report.
        writeFile(
            jsonOut, cli.jsonPath,
            report.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
    }
    return 0;
}

}  // namespace

Command setupReportCommand(CLI::App& parent) {
    auto cli = std::make_shared<ReportCommandOptions>();
    CLI::App* app = parent.add_subcommand(
        "report",
        "Build the hop-by-hop report of lab runs: per TCP flow, the 5-tuple seen at each capture\n"
        "point in path order (what changed is flagged) and the gateway's internals (accepted\n"
        "socket, recovered destination, NAT mapping, matching rules). One RUNDIR per mode, as the\n"
        "labs write them (meta.json, pcaps, events.jsonl, conntrack.txt, sockets.txt, rules.txt).\n"
        "See docs/report.md.");
    app->add_option("runs", cli->runs, "Run directories, one column each")
        ->required()
        ->check(CLI::ExistingDirectory)
        ->type_name("RUNDIR...");
    app->add_option("--json", cli->jsonPath, "Also write the report model as JSON to FILE")
        ->type_name("FILE");
    app->add_option("--html", cli->htmlPath,
                    "Also write a self-contained HTML page: one column per run, an SVG ladder "
                    "diagram per flow drawn from the real packets, the internals")
        ->type_name("FILE");
    app->add_option("--text", cli->textPath, "Also write the text report to FILE")
        ->type_name("FILE");
    app->add_flag("-q,--quiet", cli->quiet, "Do not print the text report");
    return Command{app, [cli] { return runReport(*cli); }};
}

}  // namespace tplab
