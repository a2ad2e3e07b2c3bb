// Backend factory: a new mode is a new file in modes/ plus one line here.
#include "make_backend.hpp"

#include "explicit_backend.hpp"
#include "redirect_backend.hpp"
#include "tproxy_backend.hpp"

namespace tplab {

std::unique_ptr<Backend> makeBackend(std::string_view mode, SocketApi& api,
                                     std::optional<Socks5Credentials> credentials) {
    if (mode == "redirect") {
        return std::make_unique<RedirectBackend>(api);
    }
    if (mode == "tproxy") {
        return std::make_unique<TproxyBackend>(api);
    }
    if (mode == "socks5") {
        return std::make_unique<Socks5Backend>(api, std::move(credentials));
    }
    if (mode == "http-connect") {
        return std::make_unique<HttpConnectBackend>(api, std::move(credentials));
    }
    return nullptr;
}

}  // namespace tplab
