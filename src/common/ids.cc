#include "common/ids.h"

#include <sys/random.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <vector>

namespace oak {
namespace {

void FillRandom(uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(buf + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    assert(r > 0 && "getrandom failed");
    if (r <= 0) std::abort();
    got += static_cast<size_t>(r);
  }
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string NewObjectId() {
  uint8_t raw[12];
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  auto t = static_cast<uint32_t>(secs);
  raw[0] = t >> 24;
  raw[1] = t >> 16;
  raw[2] = t >> 8;
  raw[3] = t;
  FillRandom(raw + 4, 8);
  return Hex(raw, sizeof raw);
}

bool IsObjectId(std::string_view s) {
  if (s.size() != 24) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> buf(bytes);
  FillRandom(buf.data(), bytes);
  return Hex(buf.data(), bytes);
}

}  // namespace oak
