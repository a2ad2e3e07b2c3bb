// Backend factory: a new mode is a new file in modes/ plus one line here.
#include "make_backend.hpp"

#include "explicit_backend.hpp"
#include "redirect_backend.hpp"
#include "sk_lookup_backend.hpp"
#include "tproxy_backend.hpp"

namespace tplab {

std::unique_ptr<Backend> makeBackend(std::string_view mode, SocketApi& api,
                                     BackendSettings settings) {
    if (mode == "redirect") {
        return std::make_unique<RedirectBackend>(api);
    }
    if (mode == "tproxy") {
        return std::make_unique<TproxyBackend>(api);
    }
    if (mode == "sk-lookup") {
        return std::make_unique<SkLookupBackend>(api, std::move(settings.steeredPorts),
                                                 std::move(settings.steeredPrefixes));
    }
    if (mode == "socks5") {
        return std::make_unique<Socks5Backend>(api, std::move(settings.credentials));
    }
    if (mode == "http-connect") {
        return std::make_unique<HttpConnectBackend>(api, std::move(settings.credentials));
    }
    return nullptr;
}

}  // namespace tplab
