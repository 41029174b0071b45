// `vslide export tcp://...`: a slide served by a TileServer on loopback
// exports through RemoteSlide (a SlideSource) into the very files the local
// file gives, and those match the independent reference (check_export.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/testing.h"
#include "export_fixture.h"
#include "vslide/remote/slide_library.h"
#include "vslide/remote/tile_server.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

std::string bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(ExportRemote, ServedSlideExportsLikeTheFile) {
  TempDir dir;
  ExportSlideSpec spec;
  spec.registration = true;  // the registration and the colour offsets travel too
  const std::string slide = dir.file("s.h5"), dump = dir.file("dump");
  ASSERT_TRUE(make_export_slide(slide, spec, dump).ok());

  auto library = std::make_shared<remote::SlideLibrary>();
  ASSERT_TRUE(library->add_file(slide).ok());
  remote::TileServerOptions o;
  o.bind = "tcp://127.0.0.1:*";
  auto server = remote::TileServer::start(library, o);
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  const std::string url = (*server)->endpoint() + "/vs-export-test";

  const std::string local = dir.file("local.ome.tif"), served = dir.file("served.ome.tif");
  const std::string args = " --levels 2 --tile 32 --threads 3 --json 2>&1";
  auto r = run_command(vslide_binary() + " export " + slide + " " + local + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(vslide_binary() + " export " + url + " " + served + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"registered\": true"), std::string::npos) << r.output;
  EXPECT_TRUE(bytes_of(local) == bytes_of(served)) << "the served slide's export differs from the file's";
  auto c = run_command("/usr/bin/python3 " + std::string(VSLIDE_EXPORT_TEST_DIR) + "/check_export.py --dump " +
                       dump + " --levels 2 --tiff " + served);
  EXPECT_EQ(c.exit_code, 0) << c.output;

  // A slide the server does not have: the server's message, nothing written.
  const std::string missing = dir.file("missing.ome.tif");
  r = run_command(vslide_binary() + " export " + (*server)->endpoint() + "/vs-nope " + missing + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("vs-nope"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_FALSE(fs::exists(missing + ".partial"));
}

}  // namespace
}  // namespace vslide::testing
