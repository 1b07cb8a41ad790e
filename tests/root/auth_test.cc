#include "root/auth.h"

#include <gtest/gtest.h>

namespace oak::root {
namespace {

const std::string kSecret(64, 'k');

TEST(PasswordTest, HashVerifiesOnlyTheRightPassword) {
  auto h = HashPassword("s3cret");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  EXPECT_TRUE(VerifyPassword(*h, "s3cret"));
  EXPECT_FALSE(VerifyPassword(*h, "s3cret "));
  EXPECT_FALSE(VerifyPassword("not a hash", "s3cret"));
  EXPECT_NE(*HashPassword("s3cret"), *h);  // salted
}

TEST(TokenTest, RoundTripKeepsClaims) {
  ManualClock clock;
  TokenService tokens(kSecret, clock, 600, 3600);
  Claims c{"alice", "uid1", {"Application_Provider"}, "org1", "access", 0};
  auto t = tokens.Issue(c);
  ASSERT_TRUE(t.ok());
  auto v = tokens.Verify(*t, "access");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->sub, "alice");
  EXPECT_EQ(v->uid, "uid1");
  EXPECT_EQ(v->organization, "org1");
  EXPECT_EQ(v->roles, std::vector<std::string>{"Application_Provider"});
  EXPECT_EQ(v->exp, clock.NowMs() / 1000 + 600);
  EXPECT_TRUE(v->HasRole("Application_Provider"));
  EXPECT_FALSE(v->HasRole("Admin"));
}

TEST(TokenTest, ExpiresAfterItsTtl) {
  ManualClock clock;
  TokenService tokens(kSecret, clock, 600, 3600);
  auto t = tokens.Issue({"alice", "u", {}, "", "access", 0});
  clock.Advance(599'000);
  EXPECT_TRUE(tokens.Verify(*t, "access").ok());
  clock.Advance(2'000);
  auto v = tokens.Verify(*t, "access");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kUnauthorized);
  EXPECT_NE(v.status().message().find("expired"), std::string::npos);
}

TEST(TokenTest, RefreshAndAccessTokensAreNotInterchangeable) {
  ManualClock clock;
  TokenService tokens(kSecret, clock, 600, 3600);
  auto access = tokens.Issue({"alice", "u", {}, "", "access", 0});
  auto refresh = tokens.Issue({"alice", "u", {}, "", "refresh", 0});
  EXPECT_FALSE(tokens.Verify(*access, "refresh").ok());
  EXPECT_FALSE(tokens.Verify(*refresh, "access").ok());
  auto r = tokens.Verify(*refresh, "refresh");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exp, clock.NowMs() / 1000 + 3600);
}

TEST(TokenTest, TamperedOrForeignTokensAreRejected) {
  ManualClock clock;
  TokenService tokens(kSecret, clock, 600, 3600);
  TokenService other(std::string(64, 'z'), clock, 600, 3600);
  auto t = tokens.Issue({"alice", "u", {"Admin"}, "", "access", 0});
  EXPECT_FALSE(tokens.Verify(*other.Issue({"alice", "u", {"Admin"}, "", "access", 0}), "access").ok());
  std::string bad = *t;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tokens.Verify(bad, "access").ok());
  // An unsigned token (alg none) with the same claims.
  std::string payload = t->substr(t->find('.') + 1);
  payload = payload.substr(0, payload.find('.'));
  std::string none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".";
  EXPECT_FALSE(tokens.Verify(none, "access").ok());
  EXPECT_FALSE(tokens.Verify("", "access").ok());
  EXPECT_FALSE(tokens.Verify("a.b.c", "access").ok());
  EXPECT_FALSE(tokens.Verify(std::string(10000, 'a'), "access").ok());
}

TEST(SecretsTest, Sha256AndConstantTimeEquals) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace oak::root
