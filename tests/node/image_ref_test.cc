#include "node/runtime/image_ref.h"

#include <gtest/gtest.h>

namespace oak::node {
namespace {

std::string Canonical(const std::string& text) {
  auto r = ParseImageRef(text);
  return r.ok() ? r->Canonical() : "invalid: " + r.status().message();
}

TEST(ImageRefTest, BareNamesGetDockerDefaults) {
  EXPECT_EQ(Canonical("nginx"), "docker://docker.io/library/nginx:latest");
  EXPECT_EQ(Canonical("nginx:1.25"), "docker://docker.io/library/nginx:1.25");
  EXPECT_EQ(Canonical("docker.io/nginx"), "docker://docker.io/library/nginx:latest");
  EXPECT_EQ(Canonical("index.docker.io/library/nginx"), "docker://docker.io/library/nginx:latest");
  EXPECT_EQ(Canonical("bitnami/redis:7"), "docker://docker.io/bitnami/redis:7");
  EXPECT_EQ(Canonical("docker://nginx"), "docker://docker.io/library/nginx:latest");
  EXPECT_EQ(Canonical("ghcr.io/oak/app:v1"), "docker://ghcr.io/oak/app:v1");
  EXPECT_EQ(Canonical("localhost/app"), "docker://localhost/app:latest");
  EXPECT_EQ(Canonical("127.0.0.1:5000/a/b-c__d.e:t_1"), "docker://127.0.0.1:5000/a/b-c__d.e:t_1");
  EXPECT_EQ(Canonical("[::1]:5000/app:1"), "docker://[::1]:5000/app:1");
  const std::string digest = "sha256:" + std::string(64, 'a');
  // A digest pins the image; a tag next to it is dropped (skopeo refuses both).
  EXPECT_EQ(Canonical("nginx@" + digest), "docker://docker.io/library/nginx@" + digest);
  EXPECT_EQ(Canonical("nginx:1@" + digest), "docker://docker.io/library/nginx@" + digest);
}

TEST(ImageRefTest, LocalTransports) {
  EXPECT_EQ(Canonical("oci:/var/images/layout:web"), "oci:/var/images/layout:web");
  EXPECT_EQ(Canonical("oci:/var/images/layout"), "oci:/var/images/layout");
  EXPECT_EQ(Canonical("oci-archive:/tmp/app.tar"), "oci-archive:/tmp/app.tar");
  EXPECT_EQ(Canonical("oci-archive:/tmp/app.tar:v2"), "oci-archive:/tmp/app.tar:v2");
  auto ref = ParseImageRef("oci:/a/b:t");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->transport, ImageTransport::kOciLayout);
  EXPECT_EQ(ref->path, "/a/b");
  EXPECT_EQ(ref->layout_tag, "t");
}

TEST(ImageRefTest, MalformedReferencesAreInvalid) {
  for (const std::string& bad : std::vector<std::string>{"", " nginx", "Nginx", "nginx:", "nginx:-x", "a//b", "a/", "/a", "-a", "a__-b",
                                "ftp://x/y", "docker://", "oci:", "oci:rel/path", "oci:/a:", "x@md5:12",
                                "host:port/x", "a:b:c", std::string(300, 'a')}) {
    auto r = ParseImageRef(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalid) << bad;
    }
  }
}

TEST(ImageRefTest, LoopbackAndListedRegistriesUsePlainHttp) {
  auto insecure = [](const std::string& text, std::vector<std::string> listed = {}) {
    auto r = ParseImageRef(text);
    return r.ok() && IsInsecureRegistry(*r, listed);
  };
  EXPECT_TRUE(insecure("127.0.0.1:5000/a"));
  EXPECT_TRUE(insecure("127.1.2.3/a"));
  EXPECT_TRUE(insecure("localhost:5000/a"));
  EXPECT_TRUE(insecure("[::1]:5000/a"));
  EXPECT_FALSE(insecure("127.example.com/a"));
  EXPECT_FALSE(insecure("nginx"));
  EXPECT_FALSE(insecure("10.0.0.2:5000/a"));
  EXPECT_TRUE(insecure("10.0.0.2:5000/a", {"10.0.0.2:5000"}));
  EXPECT_FALSE(insecure("10.0.0.2:5001/a", {"10.0.0.2:5000"}));
  EXPECT_TRUE(insecure("registry.lan/a", {"registry.lan"}));
  EXPECT_FALSE(insecure("oci:/a/b"));
}

}  // namespace
}  // namespace oak::node
