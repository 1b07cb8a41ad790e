#include "root/auth.h"

#include <jwt.h>
#include <sodium.h>

#include <cassert>
#include <cstdlib>
#include <memory>

#include <nlohmann/json.hpp>

namespace oak::root {
namespace {

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

bool SodiumReady() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

}  // namespace

bool IsKnownRole(std::string_view role) {
  return role == kRoleAdmin || role == kRoleAppProvider || role == kRoleInfraProvider || role == kRoleOrgAdmin;
}

Result<std::string> HashPassword(std::string_view password) {
  if (!SodiumReady()) return Status::Internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::Internal("password hashing ran out of memory");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view hash, std::string_view password) {
  if (!SodiumReady()) return false;
  std::string h(hash);  // must be NUL-terminated
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string Sha256Hex(std::string_view data) {
  SodiumReady();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool Claims::HasRole(std::string_view role) const {
  for (const auto& r : roles)
    if (r == role) return true;
  return false;
}

TokenService::TokenService(std::string secret, const Clock& clock, int64_t access_ttl_s, int64_t refresh_ttl_s)
    : secret_(std::move(secret)), clock_(clock), access_ttl_s_(access_ttl_s), refresh_ttl_s_(refresh_ttl_s) {
  assert(secret_.size() >= 32);
}

Result<std::string> TokenService::Issue(const Claims& c) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return Status::Internal("jwt: out of memory");
  JwtPtr jwt(raw);
  int64_t now = clock_.NowMs() / 1000;
  int64_t ttl = c.type == "refresh" ? refresh_ttl_s_ : access_ttl_s_;
  nlohmann::json grants = {{"sub", c.sub},
                           {"uid", c.uid},
                           {"roles", c.roles},
                           {"organization", c.organization},
                           {"type", c.type},
                           {"iat", now},
                           {"exp", now + ttl}};
  if (jwt_add_grants_json(jwt.get(), grants.dump().c_str()) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret_.data()),
                  static_cast<int>(secret_.size())) != 0) {
    return Status::Internal("jwt: cannot build token");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (!encoded) return Status::Internal("jwt: cannot encode token");
  std::string out(encoded);
  free(encoded);
  return out;
}

Result<Claims> TokenService::Verify(std::string_view token, std::string_view want_type) const {
  if (token.empty()) return Status::Unauthorized("missing bearer token");
  if (token.size() > 8192) return Status::Unauthorized("invalid token");
  std::string t(token);
  if (auto hit = verified_.find(t); hit != verified_.end()) {
    const Claims& c = hit->second;
    if (c.type != want_type) return Status::Unauthorized("invalid token type");
    if (c.exp <= clock_.NowMs() / 1000) {
      verified_.erase(hit);
      return Status::Unauthorized("token expired");
    }
    return c;
  }
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, t.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
                 static_cast<int>(secret_.size())) != 0) {
    return Status::Unauthorized("invalid token");
  }
  JwtPtr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return Status::Unauthorized("invalid token");
  char* grants_text = jwt_get_grants_json(jwt.get(), nullptr);
  if (!grants_text) return Status::Unauthorized("invalid token");
  auto grants = nlohmann::json::parse(grants_text, nullptr, false);
  free(grants_text);
  if (!grants.is_object()) return Status::Unauthorized("invalid token");
  Claims c;
  auto str = [&](const char* k) {
    auto it = grants.find(k);
    return it != grants.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  c.sub = str("sub");
  c.uid = str("uid");
  c.organization = str("organization");
  c.type = str("type");
  auto exp = grants.find("exp");
  if (exp == grants.end() || !exp->is_number_integer()) return Status::Unauthorized("invalid token");
  c.exp = exp->get<int64_t>();
  if (auto roles = grants.find("roles"); roles != grants.end() && roles->is_array()) {
    for (auto& r : *roles)
      if (r.is_string()) c.roles.push_back(r.get<std::string>());
  }
  if (c.sub.empty() || c.type != want_type) return Status::Unauthorized("invalid token type");
  if (c.exp <= clock_.NowMs() / 1000) return Status::Unauthorized("token expired");
  if (verified_.size() >= kCacheLimit) verified_.clear();
  verified_.emplace(std::move(t), c);
  return c;
}

}  // namespace oak::root
