// The verbs end to end: `vslide serve` (by path and by catalog id), `vslide
// keygen`, and info / export-tile / verify on tcp:// and ipc:// URLs.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/serve_process.h"
#include "remote_fixture.h"
#include "vslide/catalog/catalog.h"
#include "vslide/remote/curve.h"

extern char** environ;

namespace vslide {
namespace {

using testing::run_command;
using testing::TempDir;

using vslide::testing::ServeProcess;

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// info, export-tile (bit-exact against the local file) and an unknown slide id, on a served URL.
void check_info_and_export(const std::string& endpoint, const std::string& path, TempDir& dir) {
  const std::string url = endpoint + "/vs-remote-0001";
  const std::string bin = testing::vslide_binary();
  auto info = run_command(bin + " info " + url + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("vs-remote-0001"), std::string::npos) << info.output;

  auto remote_tif = dir.file("remote.tif"), local_tif = dir.file("local.tif");
  auto ex = run_command(bin + " export-tile " + url + " --row 0 --col 1 --channel 1 --out " + remote_tif);
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  auto ex_local = run_command(bin + " export-tile " + path + " --row 0 --col 1 --channel 1 --out " + local_tif);
  ASSERT_EQ(ex_local.exit_code, 0) << ex_local.output;
  EXPECT_EQ(file_bytes(remote_tif), file_bytes(local_tif));

  auto unknown = run_command(bin + " info " + endpoint + "/vs-nobody");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("vs-nobody"), std::string::npos) << unknown.output;
}

TEST(RemoteCli, InfoExportVerifyTakeUrls) {
  TempDir dir;
  auto path = testing::make_remote_test_slide(dir);
  ServeProcess server({path, "--bind", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(server.endpoint().empty()) << "vslide serve printed no endpoint";
  check_info_and_export(server.endpoint(), path, dir);
  auto verify = run_command(testing::vslide_binary() + " verify " + server.endpoint() + "/vs-remote-0001");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

// open_slide routes ipc:// like tcp:// (not to Hdf5Slide::open as a file path).
TEST(RemoteCli, InfoAndExportTakeIpcUrls) {
  TempDir dir;
  auto path = testing::make_remote_test_slide(dir);
  ServeProcess server({path, "--bind", "ipc://" + dir.file("tiles.sock")});
  ASSERT_EQ(server.endpoint(), "ipc://" + dir.file("tiles.sock")) << "vslide serve printed no ipc endpoint";
  check_info_and_export(server.endpoint(), path, dir);
}

// --send-buffer-kib sets the server's kernel send buffer ("status" reports it);
// too small a buffer is refused before anything is bound, for serve and broker.
TEST(RemoteCli, SendBufferOption) {
  TempDir dir;
  auto path = testing::make_remote_test_slide(dir);
  {
    ServeProcess server({path, "--bind", "tcp://127.0.0.1:*", "--send-buffer-kib", "512"});
    ASSERT_FALSE(server.endpoint().empty());
    auto remote = remote::RemoteSlide::open(server.endpoint() + "/vs-remote-0001");
    ASSERT_TRUE(remote.ok()) << remote.status().to_string();
    auto status = (*remote)->server_status();
    ASSERT_TRUE(status.ok()) << status.status().to_string();
    EXPECT_EQ((*status)["send_buffer_bytes"].get<int>(), 512 << 10);
  }
  const std::string bin = testing::vslide_binary();
  auto serve = run_command(bin + " serve " + path + " --bind tcp://127.0.0.1:0 --send-buffer-kib 64");
  EXPECT_NE(serve.exit_code, 0);
  EXPECT_NE(serve.output.find("send buffer of 65536 bytes"), std::string::npos) << serve.output;
  auto negative = run_command(bin + " serve " + path + " --bind tcp://127.0.0.1:0 --send-buffer-kib -1");
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_NE(negative.output.find("--send-buffer-kib N (expected an integer in 0..1048576)"), std::string::npos)
      << negative.output;
  auto broker = run_command(bin + " broker --frontend tcp://127.0.0.1:0 --backend tcp://127.0.0.1:0 --send-buffer-kib 8");
  EXPECT_NE(broker.exit_code, 0);
  EXPECT_NE(broker.output.find("send buffer of 8192 bytes"), std::string::npos) << broker.output;
}

TEST(RemoteCli, ServesByCatalogId) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.id = "vs-catalogued-7";
  spec.with_layers = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  const std::string catalog_url = "sqlite://" + dir.file("catalog.sqlite");
  {
    auto catalog = open_catalog(catalog_url);
    ASSERT_TRUE(catalog.ok()) << catalog.status().to_string();
    SlideRecord r;
    r.id = spec.id;
    r.name = "catalogued";
    r.path = path;
    r.host = "localhost";
    r.state = SlideState::kComplete;
    ASSERT_TRUE((*catalog)->add(r).ok());
  }
  ServeProcess server({"--catalog", catalog_url, "--bind", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(server.endpoint().empty());
  auto remote = remote::RemoteSlide::open(server.endpoint() + "/" + spec.id);
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  auto local = Hdf5Slide::open(path);
  EXPECT_TRUE(*(*remote)->read(TileKey{1, 0, 1, 0, 0, 0}) == *(*local)->read(TileKey{1, 0, 1, 0, 0, 0}));
  auto missing = remote::RemoteSlide::open(server.endpoint() + "/vs-not-in-catalog");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().to_string();
}

TEST(RemoteCli, KeygenWritesAKeyPairAndRefusesToOverwrite) {
  TempDir dir;
  const std::string bin = testing::vslide_binary();
  auto r = run_command(bin + " keygen " + dir.file("alice") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto keys = remote::read_key_file(dir.file("alice.key_secret"));
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_EQ(keys->public_key.size(), 40u);
  EXPECT_EQ(keys->secret_key.size(), 40u);
  EXPECT_NE(r.output.find(keys->public_key), std::string::npos);
  auto pub = remote::read_key_file(dir.file("alice.key"));
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->secret_key.empty());
  EXPECT_NE(run_command(bin + " keygen " + dir.file("alice")).exit_code, 0);
  auto help = run_command(bin + " serve --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--connect"), std::string::npos);
}

}  // namespace
}  // namespace vslide
