// Image references as users write them in a deployment's `image`/`code` field.
//
//   docker://REF                       a registry image (REF as below)
//   oci:/abs/layout[:tag]              an OCI layout directory on the node
//   oci-archive:/abs/file.tar[:tag]    an OCI layout packed in a tar file on the node
//   name[:tag][@digest]                a registry image with Docker's defaults:
//   host[:port]/name[:tag][@digest]    `nginx` is docker.io/library/nginx:latest
//
// The first path component names a registry host when it contains '.' or ':', is `localhost` or is
// a bracketed IPv6 address; otherwise the image lives on docker.io. See docs/node.md, "Images".
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace oak::node {

enum class ImageTransport { kDocker, kOciLayout, kOciArchive };

struct ImageRef {
  ImageTransport transport = ImageTransport::kDocker;
  // kDocker
  std::string registry;    // "docker.io", "127.0.0.1:5000", "[::1]:5000"
  std::string repository;  // "library/nginx"
  std::string tag;         // "latest" unless only a digest was given
  std::string digest;      // "sha256:<hex>" when pinned
  // kOciLayout, kOciArchive
  std::string path;        // absolute
  std::string layout_tag;  // may be empty: the layout's only image

  // One spelling per image, e.g. "docker://docker.io/library/nginx:latest": the cache key.
  std::string Canonical() const;
  // The registry's host without port or brackets ("127.0.0.1", "::1"); empty for local transports.
  std::string RegistryHost() const;
};

// kInvalid naming the reference and what is wrong with it.
Result<ImageRef> ParseImageRef(const std::string& text);

// Whether pulls from `ref` go over plain HTTP: loopback registries (127.0.0.0/8, localhost, ::1)
// and those listed as "host:port" (or "host") in `insecure_registries`.
bool IsInsecureRegistry(const ImageRef& ref, const std::vector<std::string>& insecure_registries);

}  // namespace oak::node
