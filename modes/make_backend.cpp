// Backend factory: a new mode is a new file in modes/ plus one line here.
#include "make_backend.hpp"

#include "redirect_backend.hpp"
#include "tproxy_backend.hpp"

namespace tplab {

std::unique_ptr<Backend> makeBackend(std::string_view mode, SocketApi& api) {
    if (mode == "redirect") {
        return std::make_unique<RedirectBackend>(api);
    }
    if (mode == "tproxy") {
        return std::make_unique<TproxyBackend>(api);
    }
    return nullptr;
}

}  // namespace tplab
