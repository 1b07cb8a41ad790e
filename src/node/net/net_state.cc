#include "node/net/net_state.h"

#include <cstdio>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace oak::node::net {

using nlohmann::json;
using Proto = model::PortMapping::Proto;

namespace {

const char* ProtoName(Proto p) { return p == Proto::kUdp ? "udp" : "tcp"; }

std::string FormatPort(const model::PortMapping& p) {
  std::string s = p.host_port ? std::to_string(p.host_port) + ":" : "";
  return s + std::to_string(p.container_port) + "/" + ProtoName(p.proto);
}

}  // namespace

Result<uint32_t> AllocateAddress(const Ipv4Subnet& subnet, const AttachmentMap& attachments) {
  std::set<uint32_t> used;
  for (const auto& [id, a] : attachments) used.insert(a.ip);
  for (uint32_t addr = subnet.gateway() + 1; addr < subnet.broadcast(); ++addr) {
    if (!used.count(addr)) return addr;
  }
  return Status::Unavailable("subnet " + subnet.ToString() + " is full");
}

Status CheckPorts(const std::string& instance, const std::vector<model::PortMapping>& ports,
                  const AttachmentMap& attachments) {
  std::set<std::pair<Proto, uint16_t>> wanted;
  for (const auto& p : ports) {
    if (p.container_port == 0) return Status::Invalid("port mapping " + FormatPort(p) + ": container port 0");
    if (p.host_port == 0) continue;
    if (!wanted.insert({p.proto, p.host_port}).second) {
      return Status::Invalid("host port " + std::to_string(p.host_port) + "/" + ProtoName(p.proto) +
                             " is published twice");
    }
  }
  for (const auto& [id, a] : attachments) {
    if (id == instance) continue;
    for (const auto& p : a.ports) {
      if (p.host_port != 0 && wanted.count({p.proto, p.host_port})) {
        return Status::Conflict("host port " + std::to_string(p.host_port) + "/" + ProtoName(p.proto) +
                                " is already published by instance " + id);
      }
    }
  }
  return Status::Ok();
}

std::string InstanceTag(const std::string& node_name, const std::string& instance, uint32_t salt) {
  // FNV-1a over "name/instance" (and the salt): stable across restarts and builds.
  uint32_t h = 2166136261u;
  auto mix = [&h](unsigned char c) { h = (h ^ c) * 16777619u; };
  for (unsigned char c : node_name) mix(c);
  mix('/');
  for (unsigned char c : instance) mix(c);
  for (int i = 0; salt != 0 && i < 4; ++i) mix(static_cast<unsigned char>(salt >> (8 * i)));
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

std::string FormatPorts(const std::vector<model::PortMapping>& ports) {
  std::string s;
  for (const auto& p : ports) s += (s.empty() ? "" : ";") + FormatPort(p);
  return s.empty() ? "none" : s;
}

std::string SerializeState(const NetState& state) {
  json list = json::array();
  for (const auto& [id, a] : state.attachments) {
    json ports = json::array();
    for (const auto& p : a.ports) {
      ports.push_back({{"host", p.host_port}, {"container", p.container_port}, {"proto", ProtoName(p.proto)}});
    }
    list.push_back({{"instance", id}, {"tag", a.tag}, {"ip", FormatAddress(a.ip)}, {"ports", ports}});
  }
  return json{{"version", 1}, {"subnet", state.subnet}, {"attachments", list}}.dump(1) + "\n";
}

Result<NetState> ParseState(const std::string& text, const std::string& origin) {
  auto bad = [&](const std::string& why) { return Status::Internal(origin + ": " + why); };
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return bad("not a JSON object");
  if (doc.value("version", 0) != 1) return bad("unknown version (expected 1)");
  NetState state;
  try {
    state.subnet = doc.at("subnet").get<std::string>();
    for (const auto& j : doc.at("attachments")) {
      AttachmentRecord a;
      a.instance = j.at("instance").get<std::string>();
      a.tag = j.at("tag").get<std::string>();
      auto ip = ParseAddress(j.at("ip").get<std::string>());
      if (!ip.ok()) return bad("attachment " + a.instance + ": " + ip.status().message());
      a.ip = *ip;
      for (const auto& p : j.at("ports")) {
        model::PortMapping m;
        m.host_port = p.at("host").get<uint16_t>();
        m.container_port = p.at("container").get<uint16_t>();
        std::string proto = p.at("proto").get<std::string>();
        if (proto != "tcp" && proto != "udp") return bad("attachment " + a.instance + ": protocol " + proto);
        m.proto = proto == "udp" ? Proto::kUdp : Proto::kTcp;
        a.ports.push_back(m);
      }
      if (a.tag.size() != 8 || a.tag.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return bad("attachment " + a.instance + ": bad tag \"" + a.tag + "\"");
      }
      std::string id = a.instance;
      if (!state.attachments.emplace(id, std::move(a)).second) return bad("instance " + id + " listed twice");
    }
  } catch (const json::exception& e) {
    return bad(std::string("malformed: ") + e.what());
  }
  return state;
}

}  // namespace oak::node::net
