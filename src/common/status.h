// Status and Result<T>: errors cross module boundaries as values.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace oak {

enum class Code {
  kOk = 0,
  kInvalid,        // the caller's input is wrong (400)
  kUnauthorized,   // missing or bad credentials (401)
  kForbidden,      // authenticated but not allowed (403)
  kNotFound,       // (404)
  kConflict,       // already exists / in use (409)
  kTooLarge,       // (413)
  kUnavailable,    // a dependency is down; retrying may help (503)
  kInternal,       // a bug or an environment failure (500)
  kStorage,        // the data directory takes no writes: full, over quota, read-only or failing (507)
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
  static Status Unauthorized(std::string m) { return {Code::kUnauthorized, std::move(m)}; }
  static Status Forbidden(std::string m) { return {Code::kForbidden, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status TooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status Storage(std::string m) { return {Code::kStorage, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A failed file-system call: ENOSPC and EDQUOT are kStorage "storage full: <what>: <reason>",
// EROFS is kStorage "data directory is read-only: <what>: <reason>", EIO kStorage "storage I/O
// error: ...", anything else kInternal "<what>: <reason>".
Status ErrnoStatus(int err, std::string_view what);
// True for an errno that ErrnoStatus turns into kStorage.
bool IsStorageErrno(int err);
// `s` with " (data dir DIR)" appended when it is a kStorage error that does not name DIR yet.
Status InDataDir(Status s, std::string_view dir);

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class Result {
 public:
  // Holds an internal error; exists for frameworks that need a default value (asio's co_spawn).
  Result() : v_(Status(Code::kInternal, "no value")) {}
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status has no value");
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace oak

// Returns from the enclosing function when `expr` (a Status) is not ok.
#define OAK_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::oak::Status oak_status_ = (expr);    \
    if (!oak_status_.ok()) return oak_status_; \
  } while (0)
