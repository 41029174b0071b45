// The whole pipeline as processes: manager, slide writers, scanners. Every
// test ends by checking the finished file plane by plane, bit-exact, against
// the synthetic scanner.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <random>
#include <thread>

#include "harness.h"
#include "vslide/acquire/protocol.h"
#include "vslide/acquire/simulated_scan.h"
#include "vslide/storage/codec.h"
#include <zmq.hpp>
#include <zmq_addon.hpp>
#include "vslide/acquire/scan_dir.h"
#include "vslide/catalog/catalog.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {
namespace {

using nlohmann::json;

json scan_json(const CommandResult& r) {
  auto pos = r.output.find('{');
  if (pos == std::string::npos) return json();
  return json::parse(r.output.substr(pos), nullptr, false);
}

std::string run_scan_cli(const ManagerFixture& m, const ScanConfig& c, const std::string& extra, CommandResult* out) {
  std::string cmd = vslide_binary();
  for (const auto& a : scan_args(m.endpoint, c)) cmd += " '" + a + "'";
  cmd += " --json " + extra;
  *out = run_command(cmd);
  json j = scan_json(*out);
  return j.is_object() ? j.value("path", "") : "";
}

SlideRecord catalog_record(const ManagerFixture& m, const std::string& id) {
  auto cat = open_catalog(m.catalog);
  if (!cat.ok()) return SlideRecord{};
  auto r = (*cat)->get(id);
  return r.ok() ? *r : SlideRecord{};
}

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(data_dir()); }
  std::string data_dir() const { return dir_.file("data"); }
  TempDir dir_;
};

TEST_F(Pipeline, TwoScansAtOnceCompleteBitExactAndCatalogued) {
  ManagerFixture m(data_dir());
  m.start();
  ASSERT_TRUE(m.status().ok()) << read_text(m.log);
  ScanConfig a = small_scan(11), b = small_scan(12, 2, 3, 3);
  CommandResult ra, rb;
  std::thread other([&] { run_scan_cli(m, b, "--name 'plate 3 well B5'", &rb); });
  std::string path_a = run_scan_cli(m, a, "--name 'plate 3 well B4'", &ra);
  other.join();
  ASSERT_EQ(ra.exit_code, 0) << ra.output << read_text(m.log);
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  json ja = scan_json(ra), jb = scan_json(rb);
  EXPECT_EQ(ja["state"], "complete");
  EXPECT_EQ(ja["planes_in_file"], 24);
  EXPECT_EQ(jb["planes_in_file"], 18);
  EXPECT_EQ(check_planes(path_a, a, all_keys(a)), "");
  EXPECT_EQ(check_planes(jb["path"], b, all_keys(b)), "");

  SlideRecord rec = catalog_record(m, ja["slide_id"]);
  EXPECT_EQ(rec.state, SlideState::kComplete);
  EXPECT_EQ(rec.tile_count, 24);
  EXPECT_EQ(rec.name, "plate 3 well B4");
  EXPECT_EQ(rec.bytes_raw, 24 * 256 * 256 * 2);
  EXPECT_GT(rec.bytes_stored, 0);
  EXPECT_GT(rec.end_unix_s, rec.start_unix_s);

  auto list = run_command(vslide_binary() + " catalog find --name 'well B5' --state complete --json --catalog " +
                          m.catalog);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  json arr = json::parse(list.output, nullptr, false);
  ASSERT_TRUE(arr.is_array()) << list.output;
  ASSERT_EQ(arr.size(), 1u);
  EXPECT_EQ(arr[0]["id"], jb["slide_id"]);
  auto info = run_command(vslide_binary() + " info " + path_a);
  EXPECT_EQ(info.exit_code, 0) << info.output;
  // The scan folders are cleaned up once the files are finished.
  double deadline = now_s() + 5;
  while (now_s() < deadline && !acquire::list_scan_dirs(data_dir()).empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(acquire::list_scan_dirs(data_dir()).empty());
}

// What a broken or confused scanner may send: each gets a clear error reply,
// and the scan goes on to a complete, bit-exact file.
TEST_F(Pipeline, BadHeaderWrongSizeDuplicateAndCorruptFieldsAreRejected) {
  ManagerFixture m(data_dir());
  m.start();
  acquire::ScannerOptions so;
  so.manager = m.endpoint;
  acquire::ScannerClient client(so);
  ScanConfig c = small_scan(21, 2, 2, 2);
  SyntheticScanner sc(c);
  const CodecSpec codec = CodecSpec::fast_default();
  acquire::ScanSpec spec = acquire::scan_spec_for(sc, codec);

  json bad{{"type", "begin_scan"}, {"spec", acquire::scan_spec_to_json(spec)}};
  bad["spec"]["geometry"]["tile_width"] = 0;
  auto r = client.ask_manager(bad, 5);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  Status st = acquire::status_from_reply(*r);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("geometry"), std::string::npos) << st.message();
  auto unknown = client.ask_manager(json{{"type", "make_coffee"}}, 5);
  EXPECT_EQ(acquire::status_from_reply(*unknown).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(acquire::status_from_reply(*client.ask_manager(json{{"type", "resume_scan"}, {"slide_id", "vs-nope"}}, 5))
                .code(),
            StatusCode::kNotFound);

  auto target = client.begin(spec);
  ASSERT_TRUE(target.ok()) << target.status().to_string() << read_text(m.log);
  auto planes = acquire::planes_in_order(sc);
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(target->proxy);
  uint64_t seq = 0;
  auto send = [&](acquire::FieldMeta meta, const std::vector<uint8_t>& bytes, bool fix_checksum = true) {
    meta.seq = ++seq;
    if (fix_checksum) meta.checksum = chunk_checksum(bytes);
    std::array<zmq::message_t, 2> out{zmq::message_t(acquire::field_meta_to_json(meta).dump()),
                                      zmq::message_t(bytes.data(), bytes.size())};
    (void)zmq::send_multipart(sock, out);
    zmq::message_t reply;
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(5000));
    if (!(item.revents & ZMQ_POLLIN)) return json{{"type", "timeout"}};
    (void)sock.recv(reply);
    return json::parse(reply.to_string_view());
  };
  acquire::FieldMeta m0;
  m0.key = planes[0].key;
  m0.field = planes[0].field;
  m0.codec = codec;
  m0.width = c.tile_width;
  m0.height = c.tile_height;
  auto good = *acquire::render_encoded(sc, planes[0].key, codec);
  auto other = *acquire::render_encoded(sc, planes[1].key, codec);

  json a = send(m0, *good);
  EXPECT_EQ(a["type"], "ack") << a.dump();
  json dup = send(m0, *good);
  EXPECT_EQ(dup["type"], "ack") << dup.dump();
  EXPECT_EQ(dup["duplicate"], true);
  json clash = send(m0, *other);
  EXPECT_EQ(acquire::status_from_reply(clash).code(), StatusCode::kAlreadyExists) << clash.dump();

  // A 128x128 plane where the slide has 256x256 ones, declared either way.
  Image16 small(128, 128);
  auto small_bytes = *encode_chunk(codec, std::span(reinterpret_cast<const uint8_t*>(small.data()), small.byte_size()));
  acquire::FieldMeta m1 = m0;
  m1.key = planes[2].key;
  m1.field = planes[2].field;
  json wrong = send(m1, small_bytes);
  EXPECT_EQ(acquire::status_from_reply(wrong).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.value("error", "").find("wrong size"), std::string::npos) << wrong.dump();
  m1.width = 128;
  m1.height = 128;
  wrong = send(m1, small_bytes);
  EXPECT_NE(wrong.value("error", "").find("wrong size"), std::string::npos) << wrong.dump();

  acquire::FieldMeta outside = m0;
  outside.key.row = 7;
  outside.field.row = 7;
  EXPECT_EQ(acquire::status_from_reply(send(outside, *good)).code(), StatusCode::kOutOfRange);
  acquire::FieldMeta damaged = m0;
  damaged.key = planes[3].key;
  damaged.field = planes[3].field;
  damaged.checksum = 12345;
  json corrupt = send(damaged, *good, /*fix_checksum=*/false);
  EXPECT_EQ(acquire::status_from_reply(corrupt).code(), StatusCode::kCorruption) << corrupt.dump();

  // The rest of the scan: the client learns that plane 0 is there already.
  auto report = client.stream(*target, spec, planes,
                              [&](size_t i) { return acquire::render_encoded(sc, planes[i].key, codec); });
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->planes_skipped, 1u);
  EXPECT_EQ(report->planes_acked, planes.size() - 1);
  EXPECT_EQ(report->state, "complete");
  EXPECT_EQ(check_planes(report->path, c, all_keys(c)), "");
}

// A tiny spool: the proxy answers "busy" instead of acknowledging, the
// scanner waits and retries, nothing is lost.
TEST_F(Pipeline, FullSpoolAppliesBackPressureAndLosesNothing) {
  ManagerFixture m(data_dir(), {"--spool-max-mb", "1"});
  m.start();
  ScanConfig c = small_scan(31, 4, 5, 2);
  c.tile_width = c.tile_height = 512;
  CommandResult r;
  std::string path = run_scan_cli(m, c, "--window 32", &r);
  ASSERT_EQ(r.exit_code, 0) << r.output << read_text(m.log);
  json j = scan_json(r);
  EXPECT_GT(j["busy_replies"].get<int>(), 0) << r.output;
  EXPECT_EQ(j["state"], "complete");
  EXPECT_EQ(check_planes(path, c, all_keys(c)), "");
}

// No memory buffer at all: every field is spilled, read back from the spool
// by the writer (checked against its checksum), through reused segment files.
TEST_F(Pipeline, EveryFieldSpilledWithoutMemoryBufferLosesNothing) {
  ManagerFixture m(data_dir(), {"--max-buffer-mb", "0", "--spool-max-mb", "2"});
  m.start();
  ScanConfig c = small_scan(37, 4, 5, 2);
  c.tile_width = c.tile_height = 512;
  CommandResult r;
  std::string path = run_scan_cli(m, c, "--window 8", &r);
  ASSERT_EQ(r.exit_code, 0) << r.output << read_text(m.log);
  json j = scan_json(r);
  EXPECT_EQ(j["state"], "complete");
  EXPECT_EQ(j["rejected"].get<int>(), 0) << r.output;
  EXPECT_EQ(check_planes(path, c, all_keys(c)), "");
  EXPECT_EQ(read_text(m.log).find("checksum"), std::string::npos) << read_text(m.log);
}

// While a scan runs, its file already shows the planes written so far.
TEST_F(Pipeline, SlideIsReadableWhileScanning) {
  ManagerFixture m(data_dir());
  m.start();
  ScanConfig c = small_scan(41, 3, 4, 2);
  std::string ack = dir_.file("ack.log");
  auto args = scan_args(m.endpoint, c);
  for (std::string a : {"--fps", "8", "--ack-log", ack.c_str()}) args.push_back(a);
  Proc scan(args, dir_.file("scan.log"));
  double deadline = now_s() + 20;
  while (read_ack_log(ack).size() < 6 && now_s() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // > the writer's flush interval
  std::string id = m.slide_id();
  ASSERT_FALSE(id.empty());
  std::string path = catalog_record(m, id).path;
  auto slide = Hdf5Slide::open(path, OpenMode::kRead);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  EXPECT_EQ((*slide)->state(), SlideState::kScanning);
  auto index = (*slide)->index();
  EXPECT_GE(index->planes_present(), 4u);
  EXPECT_LT(index->planes_present(), 24u);
  auto first = read_ack_log(ack).front();
  auto got = (*slide)->read(first);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(*got == SyntheticScanner(c).render(first));
  slide->reset();  // a reader holding the file delays finishing it (see docs/ACQUISITION.md)
  auto info = run_command(vslide_binary() + " info " + path);
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("scanning"), std::string::npos) << info.output;
  EXPECT_EQ(scan.wait(60), 0) << read_text(dir_.file("scan.log"));
  EXPECT_EQ(check_planes(path, c, all_keys(c)), "");
}

}  // namespace
}  // namespace vslide::testing
