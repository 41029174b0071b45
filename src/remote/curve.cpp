#include "vslide/remote/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <zmq_addon.hpp>

namespace vslide::remote {

namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

bool valid_z85_key(const std::string& k) {
  if (k.size() != 40) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, k.c_str()) != nullptr;
}

// Value of `name = "value"` on a line, or empty.
std::string key_value(const std::string& line, const std::string& name) {
  auto pos = line.find_first_not_of(" \t");
  if (pos == std::string::npos || line.compare(pos, name.size(), name) != 0) return "";
  auto eq = line.find('=', pos + name.size());
  if (eq == std::string::npos) return "";
  auto first = line.find('"', eq);
  auto last = line.rfind('"');
  if (first == std::string::npos || last <= first) return "";
  return line.substr(first + 1, last - first - 1);
}

}  // namespace

Result<CurveKeyPair> generate_curve_keypair() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Status::unimplemented(std::string("CURVE key generation failed: ") + zmq_strerror(zmq_errno()) +
                                 " (libzmq built without CURVE?)");
  }
  return CurveKeyPair{pub, sec};
}

namespace {
// Moves the complete temporary file `tmp` to `path` unless something is there
// already (a file, a link), in one step: a check before and a plain rename()
// after would replace a file created in between. renameat2(RENAME_NOREPLACE)
// where the file system has it, else link() + unlink(), which fails with
// EEXIST just as atomically. On failure `tmp` is still there.
Status move_into_place_without_replacing(const std::string& tmp, const std::string& path) {
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return Status();
  int err = errno;
  if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) {  // no RENAME_NOREPLACE on this file system
    if (::link(tmp.c_str(), path.c_str()) == 0) {
      ::unlink(tmp.c_str());
      return Status();
    }
    err = errno;
  }
  if (err == EEXIST) {
    return Status::already_exists(path + ": exists; not replacing it (vslide keygen --force replaces it)");
  }
  return Status::io_error(path + ": cannot move into place without replacing: " + std::strerror(err));
}

// Writes `text` to `path` through a temporary file in the same folder, created
// with O_CREAT|O_EXCL and mode 0600 (mkstemp), chmod'ed to `mode` and moved to
// `path` only once every byte is written and synced: a failure (ENOSPC,
// EFBIG) leaves no file, never a partial one, and a secret is never readable
// by others, not even for an instant. Without `replace`, an existing `path`
// (whenever it appeared) is left alone and AlreadyExists returned.
Status write_file_atomically(const std::string& path, const std::string& text, mode_t mode, bool replace) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return Status::io_error(path + ": cannot create: " + std::strerror(errno));
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::io_error(path + ": cannot " + what + ": " + std::strerror(err));
  };
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write");
    done += size_t(n);
  }
  if (::fchmod(fd, mode) != 0) return fail("set the mode of");
  if (::fsync(fd) != 0) return fail("sync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::io_error(path + ": cannot write: " + std::strerror(err));
  }
  if (!replace) {
    Status moved = move_into_place_without_replacing(tmp, path);
    if (!moved.ok()) ::unlink(tmp.c_str());
    return moved;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::io_error(path + ": cannot rename into place: " + std::strerror(err));
  }
  return Status();
}
}  // namespace

Status write_key_files(const CurveKeyPair& keys, const std::string& prefix, bool replace) {
  const std::string pub_path = prefix + ".key", sec_path = prefix + ".key_secret";
  // The secret first: a public key file without its secret would be useless.
  VSLIDE_RETURN_IF_ERROR(write_file_atomically(sec_path,
                                               "# vslide CURVE key pair: keep this file private\n"
                                               "public-key = \"" + keys.public_key + "\"\n"
                                               "secret-key = \"" + keys.secret_key + "\"\n",
                                               0600, replace));
  Status s = write_file_atomically(pub_path,
                                   "# vslide CURVE public key: give it to whoever must know this peer\n"
                                   "public-key = \"" + keys.public_key + "\"\n",
                                   0644, replace);
  if (!s.ok()) ::unlink(sec_path.c_str());
  return s;
}

namespace {
Result<CurveKeyPair> parse_key_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::io_error(path + ": cannot open key file: " + std::strerror(errno));
  CurveKeyPair keys;
  std::string line;
  while (std::getline(f, line)) {
    if (auto v = key_value(line, "public-key"); !v.empty()) keys.public_key = v;
    if (auto v = key_value(line, "secret-key"); !v.empty()) keys.secret_key = v;
  }
  if (!valid_z85_key(keys.public_key)) {
    return Status::invalid_argument(path + ": no valid public-key line (40 Z85 characters)");
  }
  if (!keys.secret_key.empty() && !valid_z85_key(keys.secret_key)) {
    return Status::invalid_argument(path + ": secret-key is not 40 Z85 characters");
  }
  return keys;
}
}  // namespace

Result<CurveKeyPair> read_key_file(const std::string& path) {
  VSLIDE_ASSIGN_OR_RETURN(CurveKeyPair keys, parse_key_file(path));
  if (keys.secret_key.empty()) return keys;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::io_error(path + ": cannot stat key file: " + std::strerror(errno));
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return Status::failed_precondition(path + ": secret key file has mode " + mode +
                                       ", open to group or others; refusing it (chmod 600 " + path + ")");
  }
  return keys;
}

Result<std::set<std::string>> read_authorized_keys(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Status::io_error(dir + ": cannot list authorised keys: " + ec.message());
  std::set<std::string> keys;
  for (const auto& entry : it) {
    if (!entry.is_regular_file()) continue;
    auto k = parse_key_file(entry.path().string());  // only its public key is used
    if (k.ok()) keys.insert(k->public_key);
  }
  return keys;
}

Status set_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys, const char* domain) {
  if (keys.secret_key.empty()) return Status::invalid_argument("CURVE server: no secret key (use the .key_secret file)");
  try {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
    socket.set(zmq::sockopt::zap_domain, std::string(domain));
  } catch (const zmq::error_t& e) {
    return Status::invalid_argument(std::string("CURVE server: ") + e.what());
  }
  return Status();
}

Status set_curve_client(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& server_public_key) {
  if (keys.secret_key.empty()) return Status::invalid_argument("CURVE client: no secret key (use the .key_secret file)");
  try {
    socket.set(zmq::sockopt::curve_serverkey, server_public_key);
    socket.set(zmq::sockopt::curve_publickey, keys.public_key);
    socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  } catch (const zmq::error_t& e) {
    return Status::invalid_argument(std::string("CURVE client: ") + e.what());
  }
  return Status();
}

std::string curve_peer_key(zmq::message_t& frame) {
  // The ZAP handler answers with the client's Z85 key as the user id; with
  // no ZAP (a plain socket) libzmq has no "User-Id" and gets() throws EINVAL.
  try {
    const char* id = frame.gets("User-Id");
    return id ? std::string(id) : std::string();
  } catch (const zmq::error_t&) {
    return std::string();
  }
}

Result<std::unique_ptr<ZapAuthenticator>> ZapAuthenticator::start(zmq::context_t& context,
                                                                  std::set<std::string> allowed,
                                                                  std::function<void(const std::string&)> log) {
  std::unique_ptr<ZapAuthenticator> zap(new ZapAuthenticator());
  zap->allowed_ = std::move(allowed);
  zap->fixed_ = true;
  zap->log_ = std::move(log);
  VSLIDE_RETURN_IF_ERROR(zap->bind_and_run(context));
  return zap;
}

Result<std::unique_ptr<ZapAuthenticator>> ZapAuthenticator::start(zmq::context_t& context,
                                                                  std::vector<ZapDomain> domains,
                                                                  std::function<void(const std::string&)> log) {
  std::unique_ptr<ZapAuthenticator> zap(new ZapAuthenticator());
  for (const auto& d : domains) {
    // Refuse to start on a folder that cannot be read: a typo must not admit nobody silently.
    VSLIDE_RETURN_IF_ERROR(read_authorized_keys(d.keys_dir).status());
  }
  zap->domains_ = std::move(domains);
  zap->log_ = std::move(log);
  VSLIDE_RETURN_IF_ERROR(zap->bind_and_run(context));
  return zap;
}

bool ZapAuthenticator::authorised(const std::string& domain, const std::string& key) {
  if (fixed_) return allowed_.count(key) > 0;
  for (const auto& d : domains_) {
    if (d.domain != domain) continue;
    // Re-read at every handshake: a key removed from the folder refuses the next
    // connection at once (handshakes are per connection, so this costs little).
    auto keys = read_authorized_keys(d.keys_dir);
    if (!keys.ok()) {
      if (log_) log_("ZAP handler: " + keys.status().message() + "; refusing every client of domain " + domain);
      return false;
    }
    return keys->count(key) > 0 || d.also_allowed.count(key) > 0;
  }
  return false;  // a socket of a domain nobody configured
}

Status ZapAuthenticator::bind_and_run(zmq::context_t& context) {
  ZapAuthenticator* zap = this;
  try {
    zap->socket_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::rep);
    zap->socket_->set(zmq::sockopt::linger, 0);
    zap->socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Status::io_error(std::string("ZAP handler: cannot bind ") + kZapEndpoint + ": " + e.what());
  }
  zap->thread_ = std::thread([zap] { zap->run(); });
  return Status();
}

ZapAuthenticator::~ZapAuthenticator() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapAuthenticator::run() {
  while (!stop_) {
    try {
      zmq::pollitem_t item{socket_->handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
      std::vector<zmq::message_t> req;
      if (!zmq::recv_multipart(*socket_, std::back_inserter(req))) continue;
      // ZAP 1.0: version, request id, domain, address, identity, mechanism, credentials...
      std::string request_id = req.size() > 1 ? req[1].to_string() : "";
      std::string domain = req.size() > 2 ? req[2].to_string() : "";
      std::string address = req.size() > 3 ? req[3].to_string() : "?";
      std::string mechanism = req.size() > 5 ? req[5].to_string() : "";
      std::string key;
      if (mechanism == "CURVE" && req.size() > 6 && req[6].size() == 32) {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        key = z85;
      }
      const bool ok = req.size() >= 6 && req[0].to_string() == "1.0" && !key.empty() && authorised(domain, key);
      if (ok) {
        ++admitted_;
      } else {
        ++refused_;
        const auto now = std::chrono::steady_clock::now();
        if (log_ && last_refusal_logged_ && now - *last_refusal_logged_ < kRefusalLogInterval) {
          ++refusals_not_logged_;
        } else if (log_) {
          log_("refused " + (mechanism.empty() ? std::string("malformed ZAP") : mechanism) + " client " +
               (key.empty() ? std::string("(no key)") : key) + " from " + address + ": key not authorised" +
               (fixed_ ? std::string() : " for " + domain) +
               (refusals_not_logged_ > 0
                    ? " (and " + std::to_string(refusals_not_logged_) + " refused since the last line)"
                    : std::string()));
          refusals_not_logged_ = 0;
          last_refusal_logged_ = now;
        }
      }
      std::array<zmq::const_buffer, 6> reply = {
          zmq::str_buffer("1.0"), zmq::buffer(request_id),
          ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
          ok ? zmq::str_buffer("OK") : zmq::str_buffer("client key not authorised"),
          zmq::buffer(key), zmq::str_buffer("")};
      if (!zmq::send_multipart(*socket_, reply) && log_) log_("ZAP handler: reply not sent");
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (log_) log_(std::string("ZAP handler: ") + e.what());
    }
  }
  socket_.reset();
}

}  // namespace vslide::remote
