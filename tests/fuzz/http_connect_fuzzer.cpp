// Fuzzes what any client can send tplab proxy --mode http-connect: the request line, its
// authority, the headers and a Basic Proxy-Authorization (with --auth), in chunks of any size.
// Input: a flag (credentials), user and password (length-prefixed), a chunk size, then the
// client's bytes; the authority and Base64 parsers also get the bytes directly.
#include <cstdint>
#include <optional>

#include "handshake_driver.hpp"
#include "http_connect.hpp"

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
    HttpConnectHandshake server(credentials);
    HandshakeStep last =
        driveHandshake([&](std::string_view bytes) { return server.onClientBytes(bytes); }, stream,
                       chunk, server.maxMessage());
    if (last.status == HandshakeStep::Status::Done) {
        checkRequest(last.request);
        fuzzCheck(last.consumed >= 4, "the head ends in CRLF CRLF");
    }
    if (last.status == HandshakeStep::Status::Fail) {
        fuzzCheck(last.reply.rfind("HTTP/1.1 4", 0) == 0 || last.reply.rfind("HTTP/1.1 5", 0) == 0,
                  "a refusal is an HTTP error status");
    }
    if (auto request = parseAuthority(stream)) {
        fuzzCheck(request->port != 0, "an authority has a port");
        checkRequest(*request);
    }
    if (auto decoded = decodeBase64(stream)) {
        fuzzCheck(decoded->size() <= stream.size(), "Base64 decodes shorter");
    }
    return 0;
}
