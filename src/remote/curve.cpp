#include "vslide/remote/curve.h"

#include <sys/stat.h>

#include <cerrno>
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

Status write_key_files(const CurveKeyPair& keys, const std::string& prefix) {
  const std::string pub_path = prefix + ".key", sec_path = prefix + ".key_secret";
  {
    std::ofstream f(pub_path, std::ios::trunc);
    f << "# vslide CURVE public key: give it to whoever must know this peer\n"
      << "public-key = \"" << keys.public_key << "\"\n";
    if (!f.flush()) return Status::io_error(pub_path + ": cannot write: " + std::strerror(errno));
  }
  {
    std::ofstream f(sec_path, std::ios::trunc);
    if (!f) return Status::io_error(sec_path + ": cannot create: " + std::strerror(errno));
    ::chmod(sec_path.c_str(), 0600);
    f << "# vslide CURVE key pair: keep this file private\n"
      << "public-key = \"" << keys.public_key << "\"\n"
      << "secret-key = \"" << keys.secret_key << "\"\n";
    if (!f.flush()) return Status::io_error(sec_path + ": cannot write: " + std::strerror(errno));
  }
  return Status();
}

Result<CurveKeyPair> read_key_file(const std::string& path) {
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

Result<std::set<std::string>> read_authorized_keys(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Status::io_error(dir + ": cannot list authorised keys: " + ec.message());
  std::set<std::string> keys;
  for (const auto& entry : it) {
    if (!entry.is_regular_file()) continue;
    auto k = read_key_file(entry.path().string());
    if (k.ok()) keys.insert(k->public_key);
  }
  return keys;
}

Result<std::unique_ptr<ZapAuthenticator>> ZapAuthenticator::start(zmq::context_t& context,
                                                                  std::set<std::string> allowed,
                                                                  std::function<void(const std::string&)> log) {
  std::unique_ptr<ZapAuthenticator> zap(new ZapAuthenticator());
  zap->allowed_ = std::move(allowed);
  zap->log_ = std::move(log);
  try {
    zap->socket_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::rep);
    zap->socket_->set(zmq::sockopt::linger, 0);
    zap->socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Status::io_error(std::string("ZAP handler: cannot bind ") + kZapEndpoint + ": " + e.what());
  }
  zap->thread_ = std::thread([z = zap.get()] { z->run(); });
  return zap;
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
      std::string address = req.size() > 3 ? req[3].to_string() : "?";
      std::string mechanism = req.size() > 5 ? req[5].to_string() : "";
      std::string key;
      if (mechanism == "CURVE" && req.size() > 6 && req[6].size() == 32) {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        key = z85;
      }
      const bool ok = req.size() >= 6 && req[0].to_string() == "1.0" && !key.empty() && allowed_.count(key) > 0;
      if (ok) {
        ++admitted_;
      } else {
        ++refused_;
        if (log_) {
          log_("refused " + (mechanism.empty() ? std::string("malformed ZAP") : mechanism) + " client " +
               (key.empty() ? std::string("(no key)") : key) + " from " + address + ": key not authorised");
        }
      }
      std::array<zmq::const_buffer, 6> reply = {
          zmq::str_buffer("1.0"), zmq::buffer(request_id),
          ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
          ok ? zmq::str_buffer("OK") : zmq::str_buffer("client key not authorised"),
          zmq::buffer(key), zmq::str_buffer("")};
      zmq::send_multipart(*socket_, reply);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (log_) log_(std::string("ZAP handler: ") + e.what());
    }
  }
  socket_.reset();
}

}  // namespace vslide::remote
