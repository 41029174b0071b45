// CURVE keys and the ZAP handler that admits only authorised clients.
//
// Key files are text, one "key = value" per line, keys in Z85 (40 chars):
//   # vslide CURVE key
//   public-key = "..."
//   secret-key = "..."        (only in the secret file)
// `vslide keygen PREFIX` writes PREFIX.key (public only: hand it out) and
// PREFIX.key_secret (both; keep it private, mode 0600).
//
// Thread-safety: the functions are reentrant; a ZapAuthenticator runs its
// own thread and may be destroyed from any one thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "vslide/core/status.h"

namespace vslide::remote {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; empty when only the public half is known
};

Result<CurveKeyPair> generate_curve_keypair();
// Writes PREFIX.key and PREFIX.key_secret; IOError naming the file on failure.
Status write_key_files(const CurveKeyPair& keys, const std::string& prefix);
// Reads a key file (public or secret); InvalidArgument naming the file when
// a key is missing or not 40 Z85 characters.
Result<CurveKeyPair> read_key_file(const std::string& path);
// Public keys of every regular file in `dir` that holds a public-key line.
Result<std::set<std::string>> read_authorized_keys(const std::string& dir);

// Answers ZAP requests (inproc://zeromq.zap.01) for one context: CURVE
// clients whose public key is in the set pass; anything else is refused and
// logged ("refused CURVE client KEY from ADDRESS").
class ZapAuthenticator {
 public:
  // Binds the ZAP endpoint; must run before any CURVE server socket binds.
  static Result<std::unique_ptr<ZapAuthenticator>> start(zmq::context_t& context, std::set<std::string> allowed,
                                                         std::function<void(const std::string&)> log);
  ~ZapAuthenticator();
  uint64_t refused() const { return refused_.load(); }
  uint64_t admitted() const { return admitted_.load(); }

 private:
  ZapAuthenticator() = default;
  void run();

  std::unique_ptr<zmq::socket_t> socket_;
  std::set<std::string> allowed_;
  std::function<void(const std::string&)> log_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0}, admitted_{0};
  std::thread thread_;
};

}  // namespace vslide::remote
