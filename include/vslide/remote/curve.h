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
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "vslide/core/status.h"

namespace vslide::remote {

// ZAP domains: clients of a server or broker frontend, dealers of a broker
// backend, scanners of a slide manager and its slide proxies (docs/ACQUISITION.md).
inline constexpr char kClientZapDomain[] = "vslide";
inline constexpr char kDealerZapDomain[] = "vslide-dealers";
inline constexpr char kScannerZapDomain[] = "vslide-scanners";

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; empty when only the public half is known
};

Result<CurveKeyPair> generate_curve_keypair();
// Writes PREFIX.key and PREFIX.key_secret; IOError naming the file on failure.
// Without `replace`, a key file that exists when it is moved into place (even
// one created after the caller checked) is left as it is: AlreadyExists naming
// it, and nothing of this call's is left behind.
Status write_key_files(const CurveKeyPair& keys, const std::string& prefix, bool replace = false);
// Reads a key file (public or secret); InvalidArgument naming the file when
// a key is missing or not 40 Z85 characters. A file that holds a secret key
// and is readable or writable by group or others is refused
// (FailedPrecondition, "chmod 600 PATH"), as OpenSSH refuses such a private key.
Result<CurveKeyPair> read_key_file(const std::string& path);
// Public keys of every regular file in `dir` that holds a public-key line.
Result<std::set<std::string>> read_authorized_keys(const std::string& dir);

// One ZAP domain (ZMQ_ZAP_DOMAIN of the server sockets it guards) and the
// folder of public keys it admits.
struct ZapDomain {
  std::string domain;
  std::string keys_dir;
  std::set<std::string> also_allowed;  // keys admitted besides the folder's (e.g. the server's own)
};

// Makes `socket` a CURVE server (before it binds) whose clients the ZAP
// handler of `domain` admits. InvalidArgument when `keys` has no secret key.
Status set_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys, const char* domain);
// Makes `socket` a CURVE client (before it connects) of the server whose
// public key is `server_public_key`, with its own pair `keys`.
Status set_curve_client(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& server_public_key);
// The CURVE public key (Z85) that the ZAP handler admitted for the
// connection a received frame came from; empty for a peer without CURVE.
std::string curve_peer_key(zmq::message_t& frame);

// Answers ZAP requests (inproc://zeromq.zap.01) for one context: CURVE
// clients whose public key is authorised pass; anything else is refused and
// logged ("refused CURVE client KEY from ADDRESS"), at most one line every
// kRefusalLogInterval with the count of those not logged since, so that a
// peer reconnecting in a loop cannot fill the disk with the log.
class ZapAuthenticator {
 public:
  static constexpr std::chrono::seconds kRefusalLogInterval{10};
  // Binds the ZAP endpoint; must run before any CURVE server socket binds.
  // This form admits a fixed set of keys, whatever the domain.
  static Result<std::unique_ptr<ZapAuthenticator>> start(zmq::context_t& context, std::set<std::string> allowed,
                                                         std::function<void(const std::string&)> log);
  // This form gives each domain its own key folder (a broker's clients and
  // its dealers), re-read at every handshake so that a key removed from the
  // folder is refused from the next connection on (connections already
  // admitted stay until they close). A domain not listed admits nobody.
  // IOError when a folder cannot be listed at start.
  static Result<std::unique_ptr<ZapAuthenticator>> start(zmq::context_t& context, std::vector<ZapDomain> domains,
                                                         std::function<void(const std::string&)> log);
  ~ZapAuthenticator();
  uint64_t refused() const { return refused_.load(); }
  uint64_t admitted() const { return admitted_.load(); }

 private:
  ZapAuthenticator() = default;
  Status bind_and_run(zmq::context_t& context);
  bool authorised(const std::string& domain, const std::string& key);
  void run();

  std::unique_ptr<zmq::socket_t> socket_;
  bool fixed_ = false;             // true: allowed_ for every domain; false: domains_
  std::set<std::string> allowed_;
  std::vector<ZapDomain> domains_;
  std::function<void(const std::string&)> log_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0}, admitted_{0};
  // The ZAP thread's: when a refusal was last logged, and how many since were not.
  std::optional<std::chrono::steady_clock::time_point> last_refusal_logged_;
  uint64_t refusals_not_logged_ = 0;
  std::thread thread_;
};

}  // namespace vslide::remote
