// Identifiers and secrets.
#pragma once

#include <string>
#include <string_view>

namespace oak {

// A 24-hex-digit id shaped like a MongoDB ObjectId (seconds since epoch, then random bytes), as
// Oakestra's dashboard expects.
std::string NewObjectId();
bool IsObjectId(std::string_view s);

// `bytes` bytes from the kernel's CSPRNG, hex-encoded.
std::string RandomHex(size_t bytes);

}  // namespace oak
