#include "node/net/local_network.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "node/net/net_tools.h"
#include "node/net/nft_ruleset.h"

namespace oak::node::net {

namespace {

using nlohmann::json;

Status ValidateName(const std::string& name) {
  if (name.empty() || name.size() > 8 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
    return Status::Invalid("network name \"" + name + "\" must be 1-8 characters a-z, 0-9");
  }
  return Status::Ok();
}

}  // namespace

Status LocalNetwork::Validate(const LocalNetworkOptions& o) {
  OAK_RETURN_IF_ERROR(ValidateName(o.name));
  auto subnet = ParseSubnet(o.subnet);
  if (!subnet.ok()) return subnet.status();
  if (o.state_dir.empty()) return Status::Invalid("network state directory is empty");
  return Status::Ok();
}

LocalNetwork::LocalNetwork(LocalNetworkOptions opts)
    : opts_(std::move(opts)), valid_(Validate(opts_)), bridge_("oak" + opts_.name), table_("oak_" + opts_.name) {
  if (valid_.ok()) subnet_ = *ParseSubnet(opts_.subnet);
}

std::string LocalNetwork::NetnsPath(const AttachmentRecord& rec) const {
  return std::string(kNetnsDir) + "/" + NetnsName(rec.tag);
}

Attachment LocalNetwork::ToAttachment(const AttachmentRecord& rec) const {
  return {rec.instance, NetnsPath(rec), FormatAddress(rec.ip), FormatAddress(subnet_.gateway()), rec.ports};
}

Status LocalNetwork::EnsureBridge() {
  if (!LinkExists(bridge_)) {
    auto r = RunTool({"ip", "link", "add", bridge_, "type", "bridge"});
    if (!r.ok() && !LinkExists(bridge_)) return r.status();
  }
  // Addresses of another subnet (an earlier configuration) would leave a stale route behind.
  auto info = IpJson({"-4", "addr", "show", "dev", bridge_});
  if (!info.ok()) return info.status();
  const std::string gw = FormatAddress(subnet_.gateway());
  std::string cmds;
  for (const auto& link : *info) {
    for (const auto& a : link.value("addr_info", json::array())) {
      std::string local = a.value("local", "");
      int len = a.value("prefixlen", 0);
      if (local != gw || len != subnet_.prefix) cmds += "addr del " + local + "/" + std::to_string(len) + " dev " + bridge_ + "\n";
    }
  }
  cmds += "addr replace " + gw + "/" + std::to_string(subnet_.prefix) + " dev " + bridge_ + "\n";
  cmds += "link set " + bridge_ + " up\n";
  OAK_RETURN_IF_ERROR(RunIpBatch({}, cmds));
  OAK_RETURN_IF_ERROR(WriteSysctl("ipv4/ip_forward", "1"));
  // Lets 127.0.0.1:hostport from the node be DNATed towards the bridge (and its answers come back).
  return WriteSysctl("ipv4/conf/" + bridge_ + "/route_localnet", "1");
}

Status LocalNetwork::ApplyRules(const AttachmentMap& attachments) {
  // An attachment without published ports leaves the table as it is: skip the nft run (~15 ms).
  std::string rules = RenderRuleset({table_, bridge_}, subnet_, attachments);
  if (rules == applied_rules_) return Status::Ok();
  OAK_RETURN_IF_ERROR(ApplyNft(rules));
  applied_rules_ = std::move(rules);
  return Status::Ok();
}

Status LocalNetwork::SaveState(const AttachmentMap& attachments) {
  return WriteFileAtomic(StatePath(), SerializeState({subnet_.ToString(), attachments}));
}

Status LocalNetwork::CreatePlumbing(const AttachmentRecord& rec) {
  auto made = RunTool({"ip", "netns", "add", NetnsName(rec.tag)});
  if (!made.ok()) return made.status();
  return ConnectNetns(rec);
}

Status LocalNetwork::ConnectNetns(const AttachmentRecord& rec) {
  const std::string ns = NetnsName(rec.tag), veth = "o" + rec.tag;
  // The peer is created inside the namespace as eth0. Hairpin lets an instance reach its own
  // published port through a node address: the DNATed packet leaves by the port it came in.
  OAK_RETURN_IF_ERROR(RunIpBatch({}, "link add " + veth + " master " + bridge_ + " up type veth peer name eth0 netns " + ns +
                                         "\nlink set " + veth + " type bridge_slave hairpin on\n"));
  return RunIpBatch({"-n", ns}, "link set lo up\n"
                                "addr add " + FormatAddress(rec.ip) + "/" + std::to_string(subnet_.prefix) + " dev eth0\n"
                                "link set eth0 up\n"
                                "route add default via " + FormatAddress(subnet_.gateway()) + "\n");
}

Status LocalNetwork::RepairPlumbing(const AttachmentRecord& rec, const std::set<std::string>& bridge_ports) {
  const std::string veth = "o" + rec.tag;
  if (!NetnsMounted(NetnsPath(rec))) {  // gone, or only the file is left (a reboot)
    spdlog::warn("network: re-creating the namespace of {} ({})", rec.instance, FormatAddress(rec.ip));
    OAK_RETURN_IF_ERROR(RemovePlumbing(rec));
    return CreatePlumbing(rec);
  }
  // The namespace is kept: a container may still run in it.
  if (!LinkExists(veth)) {
    spdlog::warn("network: re-creating the veth of {} ({})", rec.instance, FormatAddress(rec.ip));
    // A veth pair goes away as a whole: eth0 inside went with it.
    return ConnectNetns(rec);
  }
  if (!bridge_ports.count(veth)) {  // the bridge was re-created
    spdlog::warn("network: re-attaching the veth of {} to {}", rec.instance, bridge_);
    return RunIpBatch({}, "link set " + veth + " master " + bridge_ + " up\nlink set " + veth +
                              " type bridge_slave hairpin on\n");
  }
  return Status::Ok();
}

Status LocalNetwork::RemovePlumbing(const AttachmentRecord& rec) {
  Status link = DeleteLink("o" + rec.tag);  // takes eth0 inside with it
  Status ns = DeleteNetns(NetnsName(rec.tag));
  return link.ok() ? ns : link;
}

Status LocalNetwork::RemoveStrays(const AttachmentMap& keep) {
  std::set<std::string> netns, veths;
  for (const auto& [id, a] : keep) {
    netns.insert(NetnsName(a.tag));
    veths.insert("o" + a.tag);
  }
  Status first;
  auto note = [&first](Status s) { if (first.ok() && !s.ok()) first = std::move(s); };
  auto ports = BridgePorts();
  if (!ports.ok()) return ports.status();
  for (const auto& name : *ports) {
    if (!veths.count(name)) {
      spdlog::info("network: removing stray veth {}", name);
      note(DeleteLink(name));
    }
  }
  for (const auto& name : NetnsNames("oak-" + opts_.name + "-")) {
    if (!netns.count(name)) {
      spdlog::info("network: removing stray namespace {}", name);
      note(DeleteNetns(name));
    }
  }
  return first;
}

Result<std::set<std::string>> LocalNetwork::BridgePorts() const {
  std::set<std::string> names;
  if (!LinkExists(bridge_)) return names;
  auto ports = IpJson({"link", "show", "master", bridge_});
  if (!ports.ok()) return ports.status();
  for (const auto& p : *ports) {
    if (std::string name = p.value("ifname", ""); !name.empty()) names.insert(name);
  }
  return names;
}

std::string LocalNetwork::PickTag(const std::string& instance) const {
  for (uint32_t salt = 0;; ++salt) {
    std::string tag = InstanceTag(opts_.name, instance, salt);
    bool taken = LinkExists("o" + tag) || PathExists(std::string(kNetnsDir) + "/" + NetnsName(tag));
    for (const auto& [id, a] : attachments_) taken = taken || a.tag == tag;
    if (!taken) return tag;
  }
}

Status LocalNetwork::Setup() {
  OAK_RETURN_IF_ERROR(valid_);
  std::lock_guard lock(mu_);
  for (const char* tool : {"ip", "nft"}) {
    if (!FindExecutable(tool)) {
      return Status::Unavailable(std::string(tool) + " not found (packages iproute2, nftables)");
    }
  }
  OAK_RETURN_IF_ERROR(EnsureDir(opts_.state_dir));
  applied_rules_.clear();  // the table may have been changed or removed behind our back
  AttachmentMap loaded;
  if (PathExists(StatePath())) {
    auto text = ReadFile(StatePath());
    if (!text.ok()) return text.status();
    auto state = ParseState(*text, StatePath());
    if (!state.ok()) return state.status();
    if (state->subnet != subnet_.ToString() && !state->attachments.empty()) {
      return Status::Invalid("subnet " + subnet_.ToString() + " differs from " + state->subnet + " of the " +
                             std::to_string(state->attachments.size()) + " attachments in " + StatePath() +
                             "; detach them first");
    }
    loaded = std::move(state->attachments);
  }
  OAK_RETURN_IF_ERROR(EnsureBridge());
  auto ports = BridgePorts();
  if (!ports.ok()) return ports.status();
  for (const auto& [id, rec] : loaded) OAK_RETURN_IF_ERROR(RepairPlumbing(rec, *ports));
  OAK_RETURN_IF_ERROR(RemoveStrays(loaded));
  OAK_RETURN_IF_ERROR(ApplyRules(loaded));
  OAK_RETURN_IF_ERROR(SaveState(loaded));
  attachments_ = std::move(loaded);
  ready_ = true;
  return Status::Ok();
}

Result<Attachment> LocalNetwork::Attach(const std::string& instance, const std::vector<model::PortMapping>& ports) {
  OAK_RETURN_IF_ERROR(valid_);
  std::lock_guard lock(mu_);
  if (!ready_) return Status::Unavailable("network " + bridge_ + " is not set up");
  if (instance.empty()) return Status::Invalid("instance id is empty");
  if (auto it = attachments_.find(instance); it != attachments_.end()) {
    if (it->second.ports == ports) return ToAttachment(it->second);
    return Status::Conflict("instance " + instance + " is already attached with ports " +
                            FormatPorts(it->second.ports) + ", not " + FormatPorts(ports));
  }
  OAK_RETURN_IF_ERROR(CheckPorts(instance, ports, attachments_));
  auto ip = AllocateAddress(subnet_, attachments_);
  if (!ip.ok()) return ip.status();
  AttachmentRecord rec{instance, PickTag(instance), *ip, ports};

  if (Status s = CreatePlumbing(rec); !s.ok()) {
    (void)RemovePlumbing(rec);
    return s;
  }
  AttachmentMap next = attachments_;
  next.emplace(instance, rec);
  if (Status s = ApplyRules(next); !s.ok()) {
    (void)RemovePlumbing(rec);
    return s;
  }
  if (Status s = SaveState(next); !s.ok()) {
    (void)ApplyRules(attachments_);
    (void)RemovePlumbing(rec);
    return s;
  }
  attachments_ = std::move(next);
  return ToAttachment(rec);
}

Status LocalNetwork::Detach(const std::string& instance) {
  OAK_RETURN_IF_ERROR(valid_);
  std::lock_guard lock(mu_);
  if (!ready_) return Status::Unavailable("network " + bridge_ + " is not set up");
  auto it = attachments_.find(instance);
  if (it == attachments_.end()) return Status::Ok();
  AttachmentRecord rec = it->second;
  AttachmentMap next = attachments_;
  next.erase(instance);
  OAK_RETURN_IF_ERROR(ApplyRules(next));
  // Left-overs of a failed removal are strays that the next Setup removes.
  Status removed = RemovePlumbing(rec);
  Status saved = SaveState(next);
  attachments_ = std::move(next);
  return removed.ok() ? saved : removed;
}

std::vector<Attachment> LocalNetwork::List() const {
  std::lock_guard lock(mu_);
  std::vector<Attachment> out;
  for (const auto& [id, rec] : attachments_) out.push_back(ToAttachment(rec));
  return out;
}

Status LocalNetwork::Teardown() {
  OAK_RETURN_IF_ERROR(valid_);
  std::lock_guard lock(mu_);
  Status first;
  auto note = [&first](Status s) { if (first.ok() && !s.ok()) first = std::move(s); };
  for (const auto& [id, rec] : attachments_) note(RemovePlumbing(rec));
  note(RemoveStrays({}));
  note(ApplyNft(RenderTableDeletion(table_)));
  applied_rules_.clear();
  note(DeleteLink(bridge_));
  if (PathExists(StatePath()) && ::unlink(StatePath().c_str()) != 0) {
    note(Status::Internal("cannot remove " + StatePath() + ": " + std::strerror(errno)));
  }
  attachments_.clear();
  ready_ = false;
  return first;
}

}  // namespace oak::node::net
