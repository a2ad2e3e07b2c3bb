// Test support: the topology, a scratch directory, and python's http.server on the server
// answering "served by server" at /index.html. Everything goes away with the object.
#pragma once

#include <memory>
#include <string>

#include "netns_topology.hpp"
#include "process.hpp"

namespace tplab::test {

class WebTopology {
  public:
    // `name` shows in the scratch directory: /tmp/tplab-NAME-XXXXXX. Throws on setup failure.
    explicit WebTopology(const std::string& name);
    ~WebTopology();
    WebTopology(const WebTopology&) = delete;
    WebTopology& operator=(const WebTopology&) = delete;

    NetnsTopology& net() { return *net_; }
    const std::string& workdir() const { return workdir_; }
    // A file of the scratch directory, "" when it does not exist.
    std::string readFile(const std::string& name) const;
    // curl http://HOST/index.html from namespace `ns`.
    CommandResult fetchIndex(const std::string& ns, const std::string& host);

  private:
    std::string workdir_;
    std::unique_ptr<NetnsTopology> net_;
    Process server_;
};

}  // namespace tplab::test
