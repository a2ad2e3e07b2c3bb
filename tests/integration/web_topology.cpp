// The web server topology most integration tests start from.
#include "web_topology.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tplab::test {

WebTopology::WebTopology(const std::string& name) {
    std::string pattern = "/tmp/tplab-" + name + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp " + pattern + " failed");
    }
    workdir_ = pattern;
    std::ofstream(workdir_ + "/index.html") << "served by server\n";
    net_ = std::make_unique<NetnsTopology>();
    server_ =
        net_->spawn(net_->server(),
                    {"python3", "-m", "http.server", "--bind", "::", "--directory", workdir_, "80"},
                    workdir_ + "/server.log");
    if (!net_->waitListening(net_->server(), 80)) {
        throw std::runtime_error("python http.server did not start");
    }
}

WebTopology::~WebTopology() {
    server_.stop();
    net_.reset();
    std::filesystem::remove_all(workdir_);
}

std::string WebTopology::readFile(const std::string& name) const {
    std::ifstream in(workdir_ + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

CommandResult WebTopology::fetchIndex(const std::string& ns, const std::string& host) {
    return net_->exec(ns, "curl -sS --max-time 5 http://" + host + "/index.html");
}

}  // namespace tplab::test
