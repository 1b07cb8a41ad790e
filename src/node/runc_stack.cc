#include "node/runc_stack.h"

#include <unistd.h>

#include <sstream>

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/subprocess.h"

namespace oak::node {

NodeNetwork::NodeNetwork(std::string tag, std::string state_dir, std::string fixed_subnet)
    : tag_(std::move(tag)), state_dir_(std::move(state_dir)), fixed_(std::move(fixed_subnet)) {}

void NodeNetwork::SetAssignedSubnet(const std::string& subnet) {
  std::lock_guard lock(mu_);
  if (!fixed_.empty()) return;
  if (assigned_ && *assigned_ != subnet && net_) {
    spdlog::warn("msg=\"the cluster assigned another subnet; keeping the one in use\" in_use={} assigned={}",
                 *assigned_, subnet);
    return;
  }
  assigned_ = subnet;
}

Status NodeNetwork::EnsureSetUp() {
  if (net_) return Status::Ok();
  std::string subnet = fixed_;
  // Before the cluster answered (a restart), the subnet in use is the one of the previous run.
  auto previous = ReadFile(state_dir_ + "/subnet");
  if (subnet.empty() && !assigned_ && previous.ok() && !previous->empty()) subnet = *previous;
  if (subnet.empty()) {
    if (!assigned_) return Status::Unavailable("the node has no instance subnet yet (it is registering with its cluster)");
    if (assigned_->empty()) {
      return Status::Unavailable("the cluster has no instance subnet left for this node; start it with --subnet");
    }
    subnet = *assigned_;
  }
  net::LocalNetworkOptions o{tag_, subnet, state_dir_};
  OAK_RETURN_IF_ERROR(net::LocalNetwork::Validate(o));
  // Two engines on one host with the same subnet (nodes of different clusters) would route each
  // other's instances into the wrong bridge: refuse clearly instead.
  if (auto routes = RunCommand({"ip", "-4", "-o", "route", "show", "exact", subnet}); routes.ok() && routes->ok()) {
    std::istringstream in(routes->out);
    for (std::string word, prev; in >> word; prev = word) {
      if (prev == "dev" && word != "oak" + tag_) {
        return Status::Unavailable("subnet " + subnet + " is already in use on this host (by " + word +
                                   "); give this node another one with --subnet");
      }
    }
  }
  auto n = std::make_unique<net::LocalNetwork>(o);
  OAK_RETURN_IF_ERROR(n->Setup());
  if (!previous.ok() || *previous != subnet) OAK_RETURN_IF_ERROR(WriteFileAtomic(state_dir_ + "/subnet", subnet, 0600));
  spdlog::info("msg=\"instance network ready\" bridge={} subnet={}", n->bridge(), subnet);
  net_ = std::move(n);
  return Status::Ok();
}

Result<NetworkAttachment> NodeNetwork::Attach(const std::string& instance, const std::vector<model::PortMapping>& ports) {
  std::lock_guard lock(mu_);
  OAK_RETURN_IF_ERROR(EnsureSetUp());
  auto a = net_->Attach(instance, ports);
  if (!a.ok()) return a.status();
  return NetworkAttachment{a->netns_path, a->ip};
}

Status NodeNetwork::Detach(const std::string& instance) {
  std::lock_guard lock(mu_);
  if (!net_ && !EnsureSetUp().ok()) return Status::Ok();  // no network was ever set up here
  return net_->Detach(instance);
}

Status NodeNetwork::Teardown() {
  std::lock_guard lock(mu_);
  net_.reset();
  auto previous = ReadFile(state_dir_ + "/subnet");
  std::string subnet = !fixed_.empty() ? fixed_ : previous.ok() && !previous->empty() ? *previous : "10.18.0.0/26";
  net::LocalNetwork n(net::LocalNetworkOptions{tag_, subnet, state_dir_});
  OAK_RETURN_IF_ERROR(n.Teardown());
  (void)::unlink((state_dir_ + "/subnet").c_str());
  return Status::Ok();
}

Result<std::string> RuncStack::LoadTag(const std::string& data_dir) {
  return LoadOrCreateSecret(data_dir + "/engine.tag", 4);  // 8 hex digits
}

RuncStack::RuncStack(boost::asio::any_io_executor loop, RuncStackOptions opts, std::string tag)
    : images_(ImageStoreOptions{opts.data_dir + "/images", opts.insecure_registries}),
      network_(tag, opts.data_dir + "/net", opts.subnet) {
  RuncOptions ro;
  ro.data_dir = opts.data_dir;
  ro.node_tag = tag;
  ro.runc = opts.runc;
  runtime_ = std::make_unique<RuncRuntime>(std::move(loop), ro, source_, &network_);
}

}  // namespace oak::node
