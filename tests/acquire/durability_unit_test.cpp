// "Acknowledged means stored", in process: the spool and the slide proxy
// over a FileOps that fails on demand (leveldb's fault-injecting Env).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/testing.h"
#include "vslide/acquire/simulated_scan.h"
#include "vslide/acquire/slide_proxy.h"
#include "vslide/storage/codec.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::acquire {
namespace {

namespace fs = std::filesystem;

// Fails the next `fail_syncs` fdatasync calls with EIO; counts every call.
class FaultyFiles : public FileOps {
 public:
  std::atomic<int> fail_syncs{0}, syncs{0}, dir_syncs{0};
  int fdatasync(int fd) override {
    ++syncs;
    if (fail_syncs > 0) {
      --fail_syncs;
      errno = EIO;
      return -1;
    }
    return FileOps::fdatasync(fd);
  }
  int fsync(int fd) override {
    ++dir_syncs;
    return FileOps::fsync(fd);
  }
};

SpoolOptions options(const std::string& dir, uint64_t segment, uint64_t capacity, SyncMode sync) {
  SpoolOptions o;
  o.dir = dir;
  o.segment_bytes = segment;
  o.capacity_bytes = capacity;
  o.sync = sync;
  return o;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SpoolFaults, FailedSyncIsRetriedByTheNextCommit) {
  testing::TempDir dir;
  FaultyFiles files;
  SpoolOptions o = options(dir.file("spool"), 1 << 20, 64 << 20, SyncMode::kPower);
  o.files = &files;
  auto spool = Spool::open(o);
  ASSERT_TRUE(spool.ok()) << spool.status().to_string();
  ASSERT_TRUE((*spool)->append("{}", std::vector<uint8_t>(100, 1)).ok());
  files.fail_syncs = 1;
  const int before = files.syncs;
  EXPECT_EQ((*spool)->commit().code(), StatusCode::kIOError);
  // The records are still not known safe: the next commit syncs them again
  // (the old spool forgot them after the failed sync and returned OK).
  EXPECT_TRUE((*spool)->commit().ok());
  EXPECT_EQ(files.syncs - before, 2);
}

TEST(SpoolFaults, PowerDurabilitySyncsTheFolderWhenASegmentIsCreated) {
  testing::TempDir dir;
  FaultyFiles files;
  SpoolOptions o = options(dir.file("spool"), 4096, 64 << 20, SyncMode::kPower);
  o.files = &files;
  auto spool = Spool::open(o);
  ASSERT_TRUE(spool.ok());
  const int after_open = files.dir_syncs;
  EXPECT_GE(after_open, 1);  // the folder and the first segment's name
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*spool)->append("{}", std::vector<uint8_t>(3000, uint8_t(i))).ok());
  EXPECT_GT(files.dir_syncs, after_open);  // each new segment's name
}

TEST(SpoolFaults, UserFilesInTheSpareFolderAreLeftAlone) {
  testing::TempDir dir;
  const std::string spares = dir.file("spares");
  fs::create_directories(spares);
  {
    std::ofstream(spares + "/123.log") << "my notes";
    std::ofstream(spares + "/keep.txt") << "mine";
  }
  for (int round = 0; round < 2; ++round) {
    SpoolOptions o = options(dir.file("scan" + std::to_string(round)), 4096, 64 << 20, SyncMode::kProcess);
    o.spare_dir = spares;
    auto spool = Spool::open(o);
    ASSERT_TRUE(spool.ok()) << spool.status().to_string();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*spool)->append("{}", std::vector<uint8_t>(3000, 7)).ok());
    ASSERT_TRUE((*spool)->commit().ok());
    ASSERT_TRUE((*spool)->remove_all().ok());
  }
  EXPECT_EQ(read_all(spares + "/123.log"), "my notes");
  EXPECT_EQ(read_all(spares + "/keep.txt"), "mine");
  EXPECT_FALSE(fs::exists(fs::path(spares) / kSpareMarker));
}

TEST(SpoolFaults, AFolderWithUnmarkedSpoolLikeFilesIsRefusedAndKept) {
  testing::TempDir dir;
  fs::create_directories(dir.file("spool"));
  std::ofstream(dir.file("spool/free-7.log")) << "not vslide's";
  auto spool = Spool::open(options(dir.file("spool"), 4096, 64 << 20, SyncMode::kProcess));
  ASSERT_FALSE(spool.ok());
  EXPECT_EQ(spool.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(spool.status().message().find(kSpoolMarker), std::string::npos);
  EXPECT_EQ(read_all(dir.file("spool/free-7.log")), "not vslide's");
}

// The proxy, its spool and writer in this process; a DEALER plays the scanner.
class ProxyFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    ScanConfig c;
    c.rows = 1;
    c.cols = 2;
    c.channels = 1;
    c.tile_width = 64;
    c.tile_height = 64;
    scanner_ = std::make_unique<SyntheticScanner>(c);
    settings_.slide_id = "faults";
    settings_.slide_path = dir_.file("faults.h5");
    settings_.catalog_url = "sqlite://" + dir_.file("catalog.sqlite");
    settings_.spool_dir = dir_.file("spool");
    settings_.spec = scan_spec_for(*scanner_, CodecSpec::fast_default());
    settings_.file_codec = CodecSpec::fast_default();
    settings_.sync = SyncMode::kPower;
    settings_.idle_timeout_s = 30;  // a failed test does not hang the run
    SpoolOptions o = options(settings_.spool_dir, 1 << 20, 64 << 20, SyncMode::kPower);
    o.files = &files_;
    auto spool = Spool::open(o);
    ASSERT_TRUE(spool.ok()) << spool.status().to_string();
    spool_ = std::move(spool).value();
    auto writer = ScanWriter::open(settings_, true, spool_.get());
    ASSERT_TRUE(writer.ok()) << writer.status().to_string();
    writer_ = std::move(writer).value();
    proxy_ = std::make_unique<SlideProxy>(settings_, spool_.get(), writer_.get());
    ASSERT_TRUE(proxy_->restore().ok());
    auto endpoint = proxy_->bind();
    ASSERT_TRUE(endpoint.ok());
    thread_ = std::thread([this] { result_ = proxy_->run(SlideState::kComplete); });
    sock_.set(zmq::sockopt::linger, 0);
    endpoint_ = *endpoint;
    sock_.connect(endpoint_);
  }
  void TearDown() override {
    if (thread_.joinable()) thread_.join();
  }
  nlohmann::json send(const nlohmann::json& meta, const std::vector<uint8_t>* pixels = nullptr) {
    std::vector<zmq::message_t> parts;
    parts.emplace_back(meta.dump());
    if (pixels) parts.emplace_back(pixels->data(), pixels->size());
    (void)zmq::send_multipart(sock_, parts);
    return receive();
  }
  nlohmann::json receive() {
    zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::seconds(20));
    std::vector<zmq::message_t> parts;
    if (!(item.revents & ZMQ_POLLIN) || !zmq::recv_multipart(sock_, std::back_inserter(parts))) return nullptr;
    return nlohmann::json::parse(parts.back().to_string_view());
  }
  nlohmann::json field(const PlaneToSend& p, const std::vector<uint8_t>& bytes, uint64_t seq) {
    FieldMeta m;
    m.seq = seq;
    m.key = p.key;
    m.field = p.field;
    m.codec = settings_.spec.codec;
    m.width = settings_.spec.geometry.tile_width;
    m.height = settings_.spec.geometry.tile_height;
    m.checksum = chunk_checksum(bytes);
    return send(field_meta_to_json(m), &bytes);
  }

  testing::TempDir dir_;
  std::string endpoint_;
  FaultyFiles files_;
  std::unique_ptr<SyntheticScanner> scanner_;
  ScanSettings settings_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<ScanWriter> writer_;
  std::unique_ptr<SlideProxy> proxy_;
  Result<ProxyResult> result_ = Status::internal("not run");
  std::thread thread_;
  zmq::context_t ctx_{1};
  zmq::socket_t sock_{ctx_, zmq::socket_type::dealer};
};

TEST_F(ProxyFaults, AFieldWhoseCommitFailedIsNotAcknowledgedAndItsRetryIsStored) {
  auto planes = planes_in_order(*scanner_);
  ASSERT_EQ(planes.size(), 2u);
  std::vector<std::vector<uint8_t>> bytes;
  for (const auto& p : planes) bytes.push_back(**render_encoded(*scanner_, p.key, settings_.spec.codec));

  files_.fail_syncs = 1;
  auto first = field(planes[0], bytes[0], 1);
  ASSERT_TRUE(first.is_object());
  EXPECT_EQ(first["type"], "error") << first.dump();
  EXPECT_EQ(first["seq"], 1);
  // Not acknowledged, so hello must not list it.
  auto hello = send({{"type", "hello"}, {"version", kProtocolVersion}});
  EXPECT_TRUE(hello["acked"].empty()) << hello.dump();
  // The retry is stored (the old proxy answered duplicate: true and the
  // plane was never written).
  auto retry = field(planes[0], bytes[0], 2);
  EXPECT_EQ(retry["type"], "ack") << retry.dump();
  EXPECT_FALSE(retry.value("duplicate", false)) << retry.dump();
  auto second = field(planes[1], bytes[1], 3);
  EXPECT_EQ(second["type"], "ack") << second.dump();
  auto end = send({{"type", "end"}, {"seq", 4}});
  EXPECT_EQ(end["type"], "end_ack") << end.dump();
  auto finished = receive();
  EXPECT_EQ(finished["type"], "finished") << finished.dump();
  EXPECT_EQ(finished["state"], "complete");
  thread_.join();
  ASSERT_TRUE(result_.ok()) << result_.status().to_string();
  auto slide = Hdf5Slide::open(settings_.slide_path, OpenMode::kRead);
  ASSERT_TRUE(slide.ok());
  for (const auto& p : planes) {
    auto got = (*slide)->read(p.key);
    ASSERT_TRUE(got.ok()) << p.key.to_string() << ": " << got.status().to_string();
    EXPECT_TRUE(*got == scanner_->render(p.key)) << p.key.to_string();
  }
}

TEST_F(ProxyFaults, AnEndWhoseCommitFailedIsRefusedAndTheScanGoesOn) {
  auto planes = planes_in_order(*scanner_);
  std::vector<std::vector<uint8_t>> bytes;
  for (const auto& p : planes) bytes.push_back(**render_encoded(*scanner_, p.key, settings_.spec.codec));
  EXPECT_EQ(field(planes[0], bytes[0], 1)["type"], "ack");
  files_.fail_syncs = 1;
  auto end = send({{"type", "end"}, {"seq", 2}});
  EXPECT_EQ(end["type"], "error") << end.dump();
  // The scan has not ended: the next field is taken.
  EXPECT_EQ(field(planes[1], bytes[1], 3)["type"], "ack");
  EXPECT_EQ(send({{"type", "end"}, {"seq", 4}})["type"], "end_ack");
  auto finished = receive();
  EXPECT_EQ(finished["type"], "finished") << finished.dump();
  EXPECT_EQ(finished["planes"], 2);
}

// Row 2^32+1 used to be stored as row 1: over the socket too, a field whose
// key does not fit int32 is refused and changes nothing.
TEST_F(ProxyFaults, AFieldKeyOutsideTheInt32RangeIsRefusedOnTheWire) {
  auto planes = planes_in_order(*scanner_);
  const auto bytes = **render_encoded(*scanner_, planes[0].key, settings_.spec.codec);
  FieldMeta m;
  m.seq = 1;
  m.key = planes[0].key;
  m.field = planes[0].field;
  m.codec = settings_.spec.codec;
  m.width = settings_.spec.geometry.tile_width;
  m.height = settings_.spec.geometry.tile_height;
  m.checksum = chunk_checksum(bytes);
  auto j = field_meta_to_json(m);
  j["key"]["row"] = (int64_t(1) << 32) + planes[0].key.row;
  j["field"]["row"] = (int64_t(1) << 32) + planes[0].key.row;
  auto refused = send(j, &bytes);
  EXPECT_EQ(refused["type"], "error") << refused.dump();
  EXPECT_EQ(refused["code"], "InvalidArgument") << refused.dump();
  // Nothing was taken for row 0: the real field is acknowledged, not a duplicate.
  auto real = field(planes[0], bytes, 2);
  EXPECT_EQ(real["type"], "ack") << real.dump();
  EXPECT_FALSE(real.value("duplicate", false)) << real.dump();
  EXPECT_EQ(send({{"type", "abort"}, {"seq", 3}})["type"], "end_ack");
}

// ZMQ_MAXMSGSIZE from the plane size: a multi-GB frame is never read in.
TEST_F(ProxyFaults, AFrameLargerThanAnyPlaneIsDroppedUnread) {
  std::vector<uint8_t> huge(settings_.spec.geometry.plane_bytes() + (1 << 20), 0);
  std::vector<zmq::message_t> parts;
  parts.emplace_back(std::string(R"({"type":"hello","version":1})"));
  parts.emplace_back(huge.data(), huge.size());
  (void)zmq::send_multipart(sock_, parts);
  zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(1500));
  EXPECT_FALSE(item.revents & ZMQ_POLLIN) << "the proxy answered an oversized message";
  // The proxy serves the next peer as before.
  zmq::socket_t other(ctx_, zmq::socket_type::dealer);
  other.set(zmq::sockopt::linger, 0);
  other.connect(endpoint_);
  std::array<zmq::message_t, 1> hello{zmq::message_t(std::string(R"({"type":"abort","seq":1})"))};
  (void)zmq::send_multipart(other, hello);
  zmq::pollitem_t again{other.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&again, 1, std::chrono::seconds(10));
  EXPECT_TRUE(again.revents & ZMQ_POLLIN);
}

}  // namespace
}  // namespace vslide::acquire
