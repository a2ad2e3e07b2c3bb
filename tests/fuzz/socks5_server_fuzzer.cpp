// Fuzzes what any client can send tplab proxy --mode socks5: the greeting, an RFC 1929 user
// name and password (with --auth), the CONNECT request, in chunks of any size. Input: a flag
// (credentials), the user and password (length-prefixed), a chunk size, then the client's bytes.
#include <cstdint>
#include <optional>

#include "handshake_driver.hpp"
#include "socks5_protocol.hpp"

using namespace tplab;
using namespace tplab::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput input(data, size);
    std::optional<Socks5Credentials> credentials;
    if (input.flag()) {
        std::string user = input.string();
        credentials = Socks5Credentials{user, input.string()};
    }
    std::size_t chunk = input.integral<std::uint8_t>();
    std::string_view stream(reinterpret_cast<const char*>(input.position()), input.remaining());
    Socks5ServerHandshake server(credentials);
    HandshakeStep last =
        driveHandshake([&](std::string_view bytes) { return server.onClientBytes(bytes); }, stream,
                       chunk, server.maxMessage());
    if (last.status == HandshakeStep::Status::Done) {
        checkRequest(last.request);
        for (auto outcome : kAllOutcomes) {
            std::string reply = server.connectReply(outcome, Endpoint());
            fuzzCheck(reply.size() >= 10 && reply[0] == 0x05, "a SOCKS5 reply");
        }
    }
    return 0;
}
