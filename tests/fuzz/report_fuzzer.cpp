// Fuzzes `tplab report`'s pcap input: the input is written as the pcap file of a two-point run
// directory, read back by loadRunRecords (libpcap, then the packet decoder), analysed and
// rendered as text, HTML and JSON, as `tplab report RUNDIR --html FILE --json FILE` does.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "flow_analysis.hpp"
#include "fuzz_input.hpp"
#include "html_report.hpp"
#include "run_records.hpp"
#include "text_escape.hpp"
#include "text_report.hpp"

namespace {

// A run directory for the life of the process: meta.json names one pcap for both points.
class RunDirectory {
  public:
    RunDirectory() {
        std::string pattern = std::filesystem::temp_directory_path() / "tplab-fuzz-XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) {
            std::abort();
        }
        path_ = pattern;
        std::ofstream(path_ / "meta.json") << R"({"name": "fuzz", "mode": "redirect",
  "title": "REDIRECT", "family": "ipv4", "lanes": ["client", "gateway", "server"],
  "points": [
    {"label": "client:eth0", "file": "trace.pcap", "between": ["client", "gateway"]},
    {"label": "server:eth0", "file": "trace.pcap", "between": ["gateway", "server"]}]})";
    }
    ~RunDirectory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    RunDirectory(const RunDirectory&) = delete;
    RunDirectory& operator=(const RunDirectory&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const RunDirectory run;
    {
        std::ofstream pcap(run.path() / "trace.pcap", std::ios::binary | std::ios::trunc);
        pcap.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    tplab::RunRecords records;
    try {
        records = tplab::loadRunRecords(run.path());
    } catch (const std::runtime_error&) {  // not a pcap libpcap can read: one line, exit 1
        return 0;
    }
    auto report = tplab::buildReport({records});
    // tplab report --json: a client's bytes in the capture (a SOCKS5 name) must not make it fail.
    (void)report.dump(2);
    // Text and HTML: no ESC from a client reaches the reader's terminal or page.
    for (const std::string& page :
         {tplab::renderTextReport(report), tplab::renderHtmlReport(report)}) {
        tplab::fuzz::fuzzCheck(tplab::isValidUtf8(page), "a report is valid UTF-8");
        tplab::fuzz::fuzzCheck(page.find('\x1b') == std::string::npos, "a report has no ESC");
    }
    return 0;
}
