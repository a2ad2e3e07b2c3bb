// Fuzzes what a next proxy (--upstream socks5://) can answer tplab: the method choice and the
// CONNECT reply, in chunks of any size. Input: the destination tplab asks for (family flag, 16
// address bytes, port), a chunk size, then the server's bytes.
#include <cstdint>

#include "handshake_driver.hpp"
#include "socks5_protocol.hpp"

using namespace tplab;
using namespace tplab::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput input(data, size);
    Endpoint destination = endpointFrom(input);
    std::size_t chunk = input.integral<std::uint8_t>();
    std::string_view stream(reinterpret_cast<const char*>(input.position()), input.remaining());
    Socks5ClientHandshake client(destination);
    std::string greeting = client.greeting();
    fuzzCheck(greeting.size() >= 3 && greeting[0] == 0x05, "a SOCKS5 greeting");
    // Session::readUpstreamHandshake peeks at most 512 bytes.
    HandshakeStep last = driveHandshake(
        [&](std::string_view bytes) { return client.onServerBytes(bytes); }, stream, chunk, 512);
    if (last.status == HandshakeStep::Status::Reply) {
        fuzzCheck(!last.reply.empty(), "the request is sent");
    }
    return 0;
}
