// CURVE + ZAP on the acquisition sockets (issue 16): a manager started with
// a key pair and a folder of authorised scanner keys admits only those keys,
// re-reads the folder at every connection, and each scan's proxy takes
// messages only from the key that began the scan. Real processes (`vslide
// manager`, its writers, `vslide scan`) and real ZeroMQ sockets on loopback.
#include <gtest/gtest.h>

#include <filesystem>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "harness.h"
#include "vslide/acquire/simulated_scan.h"
#include "vslide/remote/curve.h"
#include "vslide/storage/codec.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Writes PREFIX.key and PREFIX.key_secret; returns the pair.
remote::CurveKeyPair make_keys(const std::string& prefix) {
  auto keys = remote::generate_curve_keypair();
  EXPECT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_TRUE(remote::write_key_files(*keys, prefix).ok());
  return *keys;
}

class CurveAcquisition : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("data"));
    fs::create_directories(dir_.file("authorised"));
    manager_keys_ = make_keys(dir_.file("manager"));
    scanner_keys_ = make_keys(dir_.file("scanner"));
    intruder_keys_ = make_keys(dir_.file("intruder"));
    outsider_keys_ = make_keys(dir_.file("outsider"));
    // The scanner and the intruder are both authorised; the outsider is not.
    fs::copy_file(dir_.file("scanner.key"), dir_.file("authorised/scanner.key"));
    fs::copy_file(dir_.file("intruder.key"), dir_.file("authorised/intruder.key"));
  }

  // A manager with CURVE; its status() asks as the scanner.
  std::unique_ptr<ManagerFixture> start_manager(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--curve-secret-key", dir_.file("manager.key_secret"), "--authorized-keys",
                               dir_.file("authorised")});
    auto m = std::make_unique<ManagerFixture>(dir_.file("data"), extra);
    m->curve_key_file = dir_.file("scanner.key_secret");
    m->manager_key_file = dir_.file("manager.key");
    m->start();
    return m;
  }

  acquire::ScannerOptions as(const std::string& who, const std::string& manager) {
    acquire::ScannerOptions so;
    so.manager = manager;
    so.reply_timeout_s = 1;
    if (!who.empty()) {
      so.curve_secret_key_file = dir_.file(who + ".key_secret");
      so.manager_key_file = dir_.file("manager.key");
    }
    return so;
  }

  Result<json> ask(const std::string& who, const std::string& manager, const json& request, double timeout_s = 1) {
    acquire::ScannerClient client(as(who, manager));
    return client.ask_manager(request, timeout_s);
  }

  TempDir dir_;
  remote::CurveKeyPair manager_keys_, scanner_keys_, intruder_keys_, outsider_keys_;
};

TEST_F(CurveAcquisition, OnlyAuthorisedScannersReachTheManagerAndScan) {
  auto m = start_manager();
  ASSERT_TRUE(m->status().ok()) << read_text(m->log);
  // A key not in the folder, and a peer without CURVE, get no answer at all;
  // the scanner tells why from the failed handshake instead of timing out.
  auto outsider = ask("outsider", m->endpoint, json{{"type", "status"}}, 10);
  EXPECT_EQ(outsider.status().code(), StatusCode::kFailedPrecondition) << outsider.status().to_string();
  EXPECT_NE(outsider.status().message().find("not in its authorised-keys folder"), std::string::npos)
      << outsider.status().to_string();
  auto plain = ask("", m->endpoint, json{{"type", "status"}}, 10);
  EXPECT_EQ(plain.status().code(), StatusCode::kFailedPrecondition) << plain.status().to_string();
  EXPECT_NE(plain.status().message().find("disagree about CURVE"), std::string::npos) << plain.status().to_string();
  EXPECT_NE(read_text(m->log).find("refused CURVE client " + outsider_keys_.public_key), std::string::npos)
      << read_text(m->log);
  // Neither can stop the manager (nor begin a scan: same socket).
  EXPECT_FALSE(ask("", m->endpoint, json{{"type", "shutdown"}}).ok());
  ScanConfig c = small_scan(31, 1, 2, 1);
  auto args = scan_args(m->endpoint, c);
  std::string line = vslide_binary();
  for (const auto& a : args) line += " " + a;
  // The authorised scanner scans through the manager and the scan's proxy.
  auto scanned = run_command(line + " --curve-secret-key " + dir_.file("scanner.key_secret") + " --manager-key " +
                             dir_.file("manager.key") + " --json");
  ASSERT_EQ(scanned.exit_code, 0) << scanned.output << read_text(m->log);
  auto report = json::parse(scanned.output.substr(scanned.output.find('{')));
  EXPECT_EQ(report["state"], "complete");
  EXPECT_EQ(check_planes(report["path"], c, all_keys(c)), "");
  auto s = m->status();
  ASSERT_TRUE(s.ok());
}

TEST_F(CurveAcquisition, AKeyRemovedFromTheFolderIsRefusedFromTheNextConnection) {
  auto m = start_manager();
  ASSERT_TRUE(ask("intruder", m->endpoint, json{{"type", "status"}}).ok());
  fs::remove(dir_.file("authorised/intruder.key"));
  EXPECT_FALSE(ask("intruder", m->endpoint, json{{"type", "status"}}).ok()) << "a removed key still admitted";
  EXPECT_TRUE(m->status().ok()) << "the scanner's own key was refused too";
  fs::copy_file(dir_.file("intruder.key"), dir_.file("authorised/intruder.key"));
  EXPECT_TRUE(ask("intruder", m->endpoint, json{{"type", "status"}}).ok());
}

// A DEALER to a scan's proxy as `keys` (no CURVE when null).
std::unique_ptr<zmq::socket_t> proxy_peer(zmq::context_t& ctx, const std::string& endpoint,
                                          const remote::CurveKeyPair* keys, const std::string& server_key) {
  auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
  s->set(zmq::sockopt::linger, 0);
  // No wait of the test may be unbounded: a send to a peer whose handshake
  // failed, or a receive, gives up after 20 s and the test fails there.
  s->set(zmq::sockopt::sndtimeo, 20000);
  s->set(zmq::sockopt::rcvtimeo, 20000);
  if (keys) {
    EXPECT_TRUE(remote::set_curve_client(*s, *keys, server_key).ok());
  }
  s->connect(endpoint);
  return s;
}

// Sends a field for `plane` with `pixels` and returns the reply, or null after timeout_s.
json send_field(zmq::socket_t& s, const acquire::ScanSpec& spec, const acquire::PlaneToSend& plane,
                const std::vector<uint8_t>& pixels, double timeout_s) {
  acquire::FieldMeta meta;
  meta.seq = 7;
  meta.key = plane.key;
  meta.field = plane.field;
  meta.codec = spec.codec;
  meta.width = spec.geometry.tile_width;
  meta.height = spec.geometry.tile_height;
  meta.checksum = chunk_checksum(pixels);
  std::vector<zmq::message_t> parts;
  parts.emplace_back(acquire::field_meta_to_json(meta).dump());
  parts.emplace_back(pixels.data(), pixels.size());
  (void)zmq::send_multipart(s, parts);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(int(timeout_s * 1000)));
  std::vector<zmq::message_t> in;
  if (!(item.revents & ZMQ_POLLIN) || !zmq::recv_multipart(s, std::back_inserter(in))) return nullptr;
  return json::parse(in.back().to_string_view());
}

// Forged fields used to be acknowledged, and the real plane then refused as a
// duplicate with other pixels: the forged slide verified as complete.
TEST_F(CurveAcquisition, OnlyTheScannerThatBeganAScanMaySendItsFields) {
  auto m = start_manager();
  ScanConfig c = small_scan(32, 1, 2, 1);
  ScanConfig forged_config = c;
  forged_config.seed = 99;
  SyntheticScanner real(c), forged(forged_config);
  const CodecSpec codec = CodecSpec::fast_default();
  const acquire::ScanSpec spec = acquire::scan_spec_for(real, codec);
  const auto planes = acquire::planes_in_order(real);
  acquire::ScannerClient owner(as("scanner", m->endpoint));
  auto target = owner.begin(spec);
  ASSERT_TRUE(target.ok()) << target.status().to_string() << read_text(m->log);
  ASSERT_FALSE(target->proxy.empty());

  const auto fake = **acquire::render_encoded(forged, planes[0].key, codec);
  zmq::context_t ctx;
  // An authorised key that did not begin the scan: refused, with the reason.
  auto intruder = proxy_peer(ctx, target->proxy, &intruder_keys_, manager_keys_.public_key);
  json refused = send_field(*intruder, spec, planes[0], fake, 10);
  ASSERT_TRUE(refused.is_object()) << "no reply to the intruder";
  EXPECT_EQ(refused["type"], "error") << refused.dump();
  EXPECT_EQ(refused["code"], "FailedPrecondition") << refused.dump();
  // Its hello learns nothing either.
  std::array<zmq::message_t, 1> hello{zmq::message_t(std::string(R"({"type":"hello","version":1})"))};
  (void)zmq::send_multipart(*intruder, hello);
  zmq::pollitem_t item{intruder->handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::seconds(10));
  ASSERT_TRUE(item.revents & ZMQ_POLLIN) << "no reply to the intruder's hello in 10 s";
  std::vector<zmq::message_t> in;
  ASSERT_TRUE(zmq::recv_multipart(*intruder, std::back_inserter(in)));
  EXPECT_EQ(json::parse(in.back().to_string_view())["type"], "error");
  // A flood of them is refused too, and logged once, not once per message.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(send_field(*intruder, spec, planes[1], fake, 10)["code"], "FailedPrecondition");
  }
  const std::string writer_log = read_text(m->data_dir + "/.scans/" + target->slide_id + "/writer.log");
  size_t logged = 0;
  for (size_t at = writer_log.find("refused a '"); at != std::string::npos; at = writer_log.find("refused a '", at + 1)) {
    ++logged;
  }
  EXPECT_EQ(logged, 1u) << writer_log;
  // Nor may it ask the manager for the scan.
  auto resumed = ask("intruder", m->endpoint, json{{"type", "resume_scan"}, {"slide_id", target->slide_id}}, 5);
  ASSERT_TRUE(resumed.ok()) << resumed.status().to_string();
  EXPECT_EQ((*resumed)["code"], "FailedPrecondition") << resumed->dump();
  // A key not authorised, and a peer without CURVE, are not answered at all.
  auto outsider = proxy_peer(ctx, target->proxy, &outsider_keys_, manager_keys_.public_key);
  EXPECT_TRUE(send_field(*outsider, spec, planes[0], fake, 1).is_null());
  auto plain = proxy_peer(ctx, target->proxy, nullptr, "");
  EXPECT_TRUE(send_field(*plain, spec, planes[0], fake, 1).is_null());

  // The real fields are all accepted and are what the slide holds.
  auto report = owner.stream(*target, spec, planes, [&](size_t i) { return acquire::render_encoded(real, planes[i].key, codec); });
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->rejected, 0u) << (report->errors.empty() ? "" : report->errors[0]);
  EXPECT_EQ(report->planes_acked, planes.size());
  EXPECT_EQ(report->state, "complete");
  EXPECT_EQ(check_planes(report->path, c, all_keys(c)), "");
}

// With CURVE, shutdown comes from any authorised key, wherever it is; the
// plaintext manager takes it only from the local machine (PeerLimits).
TEST_F(CurveAcquisition, ShutdownIsTakenFromAnAuthorisedKeyOnAnotherAddress) {
  const std::string address = outside_address();
  if (address.empty()) GTEST_SKIP() << "this machine has no non-loopback IPv4 address";
  const int port = free_port();
  auto m = std::make_unique<ManagerFixture>(dir_.file("data"), std::vector<std::string>{
      "--bind", "tcp://0.0.0.0:" + std::to_string(port), "--curve-secret-key", dir_.file("manager.key_secret"),
      "--authorized-keys", dir_.file("authorised")});
  m->endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  m->curve_key_file = dir_.file("scanner.key_secret");
  m->manager_key_file = dir_.file("manager.key");
  m->start();
  ASSERT_TRUE(m->status().ok()) << read_text(m->log);
  const std::string outside = "tcp://" + address + ":" + std::to_string(port);
  EXPECT_FALSE(ask("outsider", outside, json{{"type", "shutdown"}}).ok());
  EXPECT_TRUE(m->status().ok()) << "an unauthorised key stopped the manager";
  auto r = ask("intruder", outside, json{{"type", "shutdown"}}, 5);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["type"], "ok") << r->dump();
  EXPECT_EQ(m->proc_->wait(10), 0);
}

TEST_F(CurveAcquisition, HalfAConfigurationIsRefusedAtStart) {
  auto r = run_command(vslide_binary() + " manager --bind tcp://127.0.0.1:0 --data-dir " + dir_.file("data") +
                       " --curve-secret-key " + dir_.file("manager.key_secret"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--authorized-keys"), std::string::npos) << r.output;
  r = run_command(vslide_binary() + " manager --bind tcp://127.0.0.1:0 --data-dir " + dir_.file("data") +
                  " --curve-secret-key " + dir_.file("manager.key") + " --authorized-keys " + dir_.file("authorised"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("secret"), std::string::npos) << r.output;
  r = run_command(vslide_binary() + " scan --manager tcp://127.0.0.1:1 --simulate --curve-secret-key " +
                  dir_.file("scanner.key_secret"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace vslide::testing
