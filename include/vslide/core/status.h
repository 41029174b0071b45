// Status and Result<T>: the error model at every module boundary.
//
// A Status is OK or carries a code and a message. Messages name the file, the
// tile and what was wrong ("slide.h5: tile (3,7) channel 2: ..."). No vslide
// library call throws for bad input; each returns a Status or a Result<T>.
// Thread-safety: plain values, safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vslide {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller asked for something malformed
  kNotFound,           // file, slide, tile or layer does not exist
  kOutOfRange,         // a key outside the slide's geometry
  kCorruption,         // stored bytes fail a check (checksum, codec header)
  kIOError,            // the OS, HDF5 or a socket failed
  kUnavailable,        // a peer or service cannot be reached right now
  kAlreadyExists,      // duplicate slide, field or file
  kFailedPrecondition, // the object is in the wrong state for the call
  kUnimplemented,      // a format version or feature this build lacks
  kResourceExhausted,  // a buffer, spool or cache is full
  kDeadlineExceeded,   // a timeout expired
  kInternal,           // a bug: an invariant did not hold
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  static Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: slide.h5: tile (3,7) ..." or "OK".
  std::string to_string() const;

  // Returns a copy whose message is "prefix: message" (same code).
  Status with_context(std::string_view prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}              // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {        // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace vslide

// Propagates a non-OK Status from an expression returning Status.
#define VSLIDE_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::vslide::Status vslide_status_ = (expr);     \
    if (!vslide_status_.ok()) return vslide_status_; \
  } while (0)

#define VSLIDE_CONCAT_INNER_(a, b) a##b
#define VSLIDE_CONCAT_(a, b) VSLIDE_CONCAT_INNER_(a, b)
// Declares `lhs` from a Result<T> expression or returns its Status.
#define VSLIDE_ASSIGN_OR_RETURN(lhs, expr)                              \
  auto VSLIDE_CONCAT_(vslide_result_, __LINE__) = (expr);              \
  if (!VSLIDE_CONCAT_(vslide_result_, __LINE__).ok())                  \
    return VSLIDE_CONCAT_(vslide_result_, __LINE__).status();          \
  lhs = std::move(VSLIDE_CONCAT_(vslide_result_, __LINE__)).value()
