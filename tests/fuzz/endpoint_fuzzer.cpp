// Fuzzes Endpoint::parse: any text either parses or throws std::invalid_argument, and what
// parses prints back to text that parses to the same endpoint.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "endpoint.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // An exact-size heap copy without a terminator, so reading past the view is caught.
    std::string text(reinterpret_cast<const char*>(data), size);
    tplab::Endpoint endpoint;
    try {
        endpoint = tplab::Endpoint::parse(std::string_view(text.data(), text.size()));
    } catch (const std::invalid_argument&) {
        return 0;
    }
    std::string printed = endpoint.toString();
    tplab::Endpoint again = tplab::Endpoint::parse(printed);
    tplab::fuzz::fuzzCheck(again == endpoint, "toString() does not parse back to the endpoint");
    tplab::fuzz::fuzzCheck(again.toString() == printed, "toString() is not stable");
    return 0;
}
