// Fuzzes the JSON Lines writer of --events with any bytes in every field a client controls (a
// requested name, a failure's text, a detail) and in the fields tplab fills: each event must be
// one line of valid UTF-8 JSON that parses back to the same bytes (escaped ones named in
// "escaped"). The display escape of logs and reports gets the raw input too.
#include <cstdint>
#include <string>

#include "events_json.hpp"
#include "fuzz_input.hpp"
#include "text_escape.hpp"

using namespace tplab;
using namespace tplab::fuzz;

namespace {

bool isEscaped(const Json& line, const std::string& field) {
    if (!line.contains("escaped")) {
        return false;
    }
    for (const auto& name : line["escaped"]) {
        if (name == field) {
            return true;
        }
    }
    return false;
}

void checkRoundTrip(const Json& event) {
    std::string line = eventLine(event);
    fuzzCheck(isValidUtf8(line), "an event line is valid UTF-8");
    fuzzCheck(line.find('\n') == line.size() - 1, "an event is one line");
    Json back = Json::parse(line);  // throws (a finding) if it is not JSON
    for (const auto& [key, value] : event.items()) {
        if (!value.is_string()) {
            continue;
        }
        std::string text = back[key].get<std::string>();
        bool escaped = isEscaped(back, key);
        fuzzCheck(escaped == !isValidUtf8(value.get<std::string>()),
                  "exactly the invalid fields are named in escaped");
        fuzzCheck((escaped ? unescapeBytes(text) : text) == value.get<std::string>(),
                  "a field gives its bytes back");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput input(data, size);
    std::string host = input.string();
    std::string failure = input.string();
    std::string detail = input.string();
    std::string method = input.string();
    DestinationLookup lookup;
    lookup.method = method;
    lookup.failure = failure;
    Json accepted =
        acceptedEvent(input.integral<std::uint64_t>(), "socks5", Endpoint::parse("192.0.2.2:40000"),
                      Endpoint::parse("192.0.2.1:1080"), Endpoint::parse("192.0.2.1:1080"), lookup);
    accepted["requested_host"] = host;
    checkRoundTrip(accepted);
    checkRoundTrip(closedEvent(input.integral<std::uint64_t>(), CloseReason::HandshakeFailed,
                               input.integral<std::uint64_t>(), input.integral<std::uint64_t>(),
                               input.integral<std::uint16_t>() / 7.0, detail));
    std::string rest(reinterpret_cast<const char*>(input.position()), input.remaining());
    checkRoundTrip(Json{{"event", "closed"}, {"detail", rest}});
    for (bool multiLine : {false, true}) {
        std::string shown = escapeForDisplay(rest, multiLine);
        fuzzCheck(isValidUtf8(shown), "displayed text is valid UTF-8");
        for (char c : shown) {
            auto byte = static_cast<unsigned char>(c);
            fuzzCheck(byte >= 0x20 || (multiLine && (c == '\n' || c == '\t')),
                      "displayed text has no control character");
            fuzzCheck(byte != 0x7f, "displayed text has no DEL");
        }
        fuzzCheck(shown.find("\xc2\x9b") == std::string::npos, "displayed text has no C1 CSI");
    }
    return 0;
}
