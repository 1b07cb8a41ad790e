// Password hashing (argon2id via libsodium) and JWTs (HS256 via libjwt).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace oak::root {

inline constexpr std::string_view kRoleAdmin = "Admin";
inline constexpr std::string_view kRoleAppProvider = "Application_Provider";
inline constexpr std::string_view kRoleInfraProvider = "Infrastructure_Provider";
inline constexpr std::string_view kRoleOrgAdmin = "Organization_Admin";
bool IsKnownRole(std::string_view role);

// Slow by design (tens of milliseconds, 64 MiB): run off the event loop.
Result<std::string> HashPassword(std::string_view password);
bool VerifyPassword(std::string_view hash, std::string_view password);

// SHA-256 in hex, for secrets stored only as digests (cluster secrets).
std::string Sha256Hex(std::string_view data);
bool ConstantTimeEquals(std::string_view a, std::string_view b);

struct Claims {
  std::string sub;  // user name
  std::string uid;  // user id
  std::vector<std::string> roles;
  std::string organization;
  std::string type;  // "access" or "refresh"
  int64_t exp = 0;   // seconds since epoch
  bool HasRole(std::string_view role) const;
};

class TokenService {
 public:
  // `secret` must be at least 32 bytes.
  TokenService(std::string secret, const Clock& clock, int64_t access_ttl_s, int64_t refresh_ttl_s);

  Result<std::string> Issue(const Claims& claims) const;  // fills exp from the type's TTL
  // Checks signature, algorithm, expiry and the token type. Tokens that verified are remembered
  // (bounded), so a client's repeated calls skip the signature check; expiry is checked every time.
  // Not thread-safe: one TokenService per event loop.
  Result<Claims> Verify(std::string_view token, std::string_view want_type) const;

  int64_t access_ttl_s() const { return access_ttl_s_; }

 private:
  std::string secret_;
  const Clock& clock_;
  int64_t access_ttl_s_;
  int64_t refresh_ttl_s_;
  static constexpr size_t kCacheLimit = 4096;
  mutable std::unordered_map<std::string, Claims> verified_;
};

}  // namespace oak::root
