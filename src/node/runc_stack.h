// What `oak node --runtime runc` runs on: the image store, the instance network and the runc
// runtime, wired together for one data directory.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "node/net/local_network.h"
#include "node/runtime/image_store.h"
#include "node/runtime/runc.h"

namespace oak::node {

struct RuncStackOptions {
  std::string data_dir;
  std::vector<std::string> insecure_registries;
  std::string subnet;  // --subnet: fixed; empty: the one the cluster assigns at registration
  std::string runc = "runc";
};

// The node's instance network, set up on first use once a subnet is known (from --subnet or the
// cluster's registration answer). Thread-safe; Attach and Detach block.
class NodeNetwork final : public InstanceNetwork {
 public:
  NodeNetwork(std::string tag, std::string state_dir, std::string fixed_subnet);
  // The cluster's answer; ignored when --subnet fixed one. "" means the cluster has none left.
  void SetAssignedSubnet(const std::string& subnet);
  Result<NetworkAttachment> Attach(const std::string& instance, const std::vector<model::PortMapping>& ports) override;
  Status Detach(const std::string& instance) override;
  // Removes every attachment, the table and the bridge (for `oak node --reset`).
  Status Teardown();

 private:
  Status EnsureSetUp();  // with mu_ held

  std::mutex mu_;
  std::string tag_, state_dir_, fixed_;
  std::optional<std::string> assigned_;  // nullopt: no registration answer yet
  std::unique_ptr<net::LocalNetwork> net_;
};

class RuncStack {
 public:
  RuncStack(boost::asio::any_io_executor loop, RuncStackOptions opts, std::string tag);
  RuncRuntime& runtime() { return *runtime_; }
  NodeNetwork& network() { return network_; }

  // This engine's tag, kept in DATA_DIR/engine.tag: names its bridge, nft table and cgroups, so
  // that several nodes can share a host.
  static Result<std::string> LoadTag(const std::string& data_dir);

 private:
  class StoreSource final : public ImageSource {
   public:
    explicit StoreSource(ImageStore& s) : s_(s) {}
    Result<Image> Ensure(const std::string& ref) override { return s_.Ensure(ref); }
    Status PrepareRootfs(const Image& image, const std::string& bundle) override { return s_.PrepareRootfs(image, bundle); }
    Status ReleaseRootfs(const std::string& bundle) override { return s_.ReleaseRootfs(bundle); }
    Result<uint64_t> WritableBytes(const std::string& bundle) const override { return s_.WritableBytes(bundle); }

   private:
    ImageStore& s_;
  };

  ImageStore images_;
  StoreSource source_{images_};
  NodeNetwork network_;
  std::unique_ptr<RuncRuntime> runtime_;
};

}  // namespace oak::node
