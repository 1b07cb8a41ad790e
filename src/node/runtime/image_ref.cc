#include "node/runtime/image_ref.h"

#include <arpa/inet.h>

#include <algorithm>
#include <regex>

namespace oak::node {
namespace {

// The grammar of github.com/distribution/reference, which Docker and skopeo share.
const std::regex& PathComponent() {
  static const std::regex re("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
  return re;
}
const std::regex& Domain() {
  static const std::regex re(
      "(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
      "|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?");
  return re;
}
const std::regex& Tag() {
  static const std::regex re("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  return re;
}
const std::regex& Digest() {
  static const std::regex re("[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}");
  return re;
}

Status Bad(const std::string& text, const std::string& why) {
  return Status::Invalid("image reference '" + text + "': " + why);
}

Result<ImageRef> ParseDocker(const std::string& text, std::string rest) {
  ImageRef ref;
  ref.transport = ImageTransport::kDocker;
  if (rest.empty()) return Bad(text, "no image name");
  if (auto at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest.resize(at);
    if (!std::regex_match(ref.digest, Digest())) return Bad(text, "malformed digest '" + ref.digest + "'");
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (!std::regex_match(ref.tag, Tag())) return Bad(text, "malformed tag '" + ref.tag + "'");
  }
  auto first = rest.find('/');
  std::string head = rest.substr(0, first);
  bool has_domain = first != std::string::npos &&
                    (head.find_first_of(".:") != std::string::npos || head == "localhost" ||
                     (!head.empty() && head.front() == '['));
  if (has_domain) {
    if (!std::regex_match(head, Domain())) return Bad(text, "malformed registry host '" + head + "'");
    ref.registry = head;
    ref.repository = rest.substr(first + 1);
  } else {
    ref.registry = "docker.io";
    ref.repository = rest;
  }
  if (ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io") ref.registry = "docker.io";
  if (ref.repository.empty()) return Bad(text, "no image name");
  size_t begin = 0;
  while (true) {
    auto end = ref.repository.find('/', begin);
    std::string component = ref.repository.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (!std::regex_match(component, PathComponent())) {
      return Bad(text, "malformed name component '" + component +
                           "' (lowercase letters, digits and single separators . _ __ -)");
    }
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  if (ref.registry.size() + 1 + ref.repository.size() > 255) return Bad(text, "name longer than 255 characters");
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  // skopeo refuses a tag together with a digest; the digest is what counts.
  if (!ref.digest.empty()) ref.tag.clear();
  else if (ref.tag.empty()) ref.tag = "latest";
  return ref;
}

Result<ImageRef> ParseLocal(const std::string& text, ImageTransport transport, std::string rest) {
  ImageRef ref;
  ref.transport = transport;
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.layout_tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (ref.layout_tag.empty()) return Bad(text, "empty tag after ':'");
    if (std::any_of(ref.layout_tag.begin(), ref.layout_tag.end(),
                    [](unsigned char c) { return c < 0x21 || c == 0x7f; })) {
      return Bad(text, "malformed tag '" + ref.layout_tag + "'");
    }
  }
  if (rest.empty() || rest.front() != '/') return Bad(text, "wants an absolute path");
  ref.path = rest;
  return ref;
}

}  // namespace

std::string ImageRef::Canonical() const {
  switch (transport) {
    case ImageTransport::kOciLayout:
      return "oci:" + path + (layout_tag.empty() ? "" : ":" + layout_tag);
    case ImageTransport::kOciArchive:
      return "oci-archive:" + path + (layout_tag.empty() ? "" : ":" + layout_tag);
    case ImageTransport::kDocker:
      break;
  }
  std::string s = "docker://" + registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string ImageRef::RegistryHost() const {
  if (transport != ImageTransport::kDocker) return "";
  if (!registry.empty() && registry.front() == '[') return registry.substr(1, registry.find(']') - 1);
  return registry.substr(0, registry.find(':'));
}

Result<ImageRef> ParseImageRef(const std::string& text) {
  if (text.empty()) return Status::Invalid("image reference is empty");
  if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x21 || c == 0x7f; })) {
    return Bad(text, "contains white space or control characters");
  }
  if (text.rfind("docker://", 0) == 0) return ParseDocker(text, text.substr(9));
  if (text.rfind("oci:", 0) == 0) return ParseLocal(text, ImageTransport::kOciLayout, text.substr(4));
  if (text.rfind("oci-archive:", 0) == 0) return ParseLocal(text, ImageTransport::kOciArchive, text.substr(12));
  if (auto scheme = text.find("://"); scheme != std::string::npos) {
    return Bad(text, "unknown transport '" + text.substr(0, scheme) + "' (docker://, oci:, oci-archive:)");
  }
  return ParseDocker(text, text);
}

bool IsInsecureRegistry(const ImageRef& ref, const std::vector<std::string>& insecure_registries) {
  if (ref.transport != ImageTransport::kDocker) return false;
  std::string host = ref.RegistryHost();
  in_addr v4{};
  bool loopback_v4 = ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
  if (host == "localhost" || host == "::1" || loopback_v4) return true;
  return std::any_of(insecure_registries.begin(), insecure_registries.end(),
                     [&](const std::string& r) { return r == ref.registry || r == host; });
}

}  // namespace oak::node
