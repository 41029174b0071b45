// The storage verbs as a user runs them, and interop with h5dump and h5py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

using testing::run_command;
using testing::TempDir;

std::string vslide() { return testing::vslide_binary(); }

std::string simulate(const TempDir& dir, const std::string& name, const std::string& extra) {
  const std::string path = dir.file(name);
  auto r = run_command(vslide() + " simulate " + path + " --rows 2 --cols 3 --channels 2 --tile 96x64 --quiet " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

TEST(StorageCli, HelpOnEveryVerb) {
  for (const char* verb : {"simulate", "info", "verify", "export-tile", "import-tiles", "bench storage"}) {
    auto r = run_command(vslide() + " " + verb + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_NE(r.output.find("usage:"), std::string::npos) << verb;
  }
  auto r = run_command(vslide() + " nosuchverb");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unknown verb"), std::string::npos);
}

TEST(StorageCli, SimulateInfoVerifyEveryLayout) {
  TempDir dir;
  for (const char* layout : {"linear", "packed", "grid"}) {
    const std::string path =
        simulate(dir, std::string(layout) + ".h5", std::string("--layout ") + layout + " --z 2 --sparse 0.2");
    auto r = run_command(vslide() + " info --json " + path);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["layout"], layout);
    EXPECT_EQ(j["state"], "complete");
    EXPECT_EQ(j["rows"], 2);
    EXPECT_EQ(j["cols"], 3);
    EXPECT_EQ(j["channels"], 2);
    EXPECT_EQ(j["z_planes"], 2);
    EXPECT_EQ(j["tile_width"], 96);
    EXPECT_EQ(j["codec"], "blosc-lz4-bitshuffle");
    for (const char* key : {"slide_id", "timepoints", "tile_height", "fields_present", "planes_present", "bytes_raw",
                            "bytes_stored"}) {
      EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["planes_present"].get<int>(), j["fields_present"].get<int>() * 4);
    EXPECT_GT(j["bytes_raw"].get<double>(), j["bytes_stored"].get<double>());
    auto v = run_command(vslide() + " verify " + path);
    EXPECT_EQ(v.exit_code, 0) << v.output;
    auto text = run_command(vslide() + " info " + path);
    EXPECT_NE(text.output.find("DAPI"), std::string::npos);
  }
}

TEST(StorageCli, ExportTileMatchesLibraryRead) {
  TempDir dir;
  const std::string path = simulate(dir, "e.h5", "--codec gzip");
  auto r = run_command(vslide() + " export-tile " + path + " --row 1 --col 2 --channel 1 --out " + dir.file("t.tif"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto tif = read_tiff16(dir.file("t.tif"));
  ASSERT_TRUE(tif.ok());
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok());
  auto img = (*s)->read(TileKey{1, 2, 1});
  ASSERT_TRUE(img.ok());
  EXPECT_TRUE(*tif == *img);
  auto bad = run_command(vslide() + " export-tile " + path + " --row 7 --col 0 --channel 0 --out " + dir.file("x.tif"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("e.h5: tile (7,0) channel 0"), std::string::npos) << bad.output;
}

TEST(StorageCli, BadFilesGiveClearErrors) {
  TempDir dir;
  std::ofstream(dir.file("junk.h5")) << "junk";
  struct Case {
    std::string arg, expect;
  } cases[] = {{dir.file("missing.h5"), "no such file"}, {dir.file("junk.h5"), "not an HDF5 file"}};
  for (const auto& c : cases) {
    for (const char* verb : {"info", "verify"}) {
      auto r = run_command(vslide() + " " + verb + " " + c.arg);
      EXPECT_NE(r.exit_code, 0);
      EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
      EXPECT_NE(r.output.find(c.arg), std::string::npos) << r.output;
    }
  }
}

TEST(StorageCli, VerifyNamesCorruptTile) {
  TempDir dir;
  const std::string path = simulate(dir, "v.h5", "--layout grid");
  // Find tile (1,2) channel 1's stored chunk in the file and flip one of its bytes.
  std::vector<uint8_t> chunk;
  {
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok());
    auto st = (*s)->read_chunk(TileKey{1, 2, 1});
    ASSERT_TRUE(st.ok()) << st.status().to_string();
    chunk = st->blocks.at(0).bytes;
  }
  std::string file;
  {
    std::ifstream in(path, std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto at = file.find(std::string(chunk.begin(), chunk.end()));
  ASSERT_NE(at, std::string::npos);
  file[at + chunk.size() / 2] ^= 0x20;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(file.data(), std::streamsize(file.size()));
  auto r = run_command(vslide() + " verify --json " + path);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(j["bad"].size(), 1u) << r.output;
  const std::string err = j["bad"][0]["error"].get<std::string>();
  EXPECT_NE(err.find("v.h5: tile (1,2) channel 1"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  auto text = run_command(vslide() + " verify " + path);
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.output.find("tile (1,2) channel 1"), std::string::npos) << text.output;
}

TEST(StorageCli, ImportRealImagesRoundTrip) {
  TempDir dir;
  const std::string real = testing::real_data_dir();
  {
    std::ofstream csv(dir.file("tiles.csv"));
    csv << "path,row,col,channel,stage_x_um,stage_y_um\n";
    csv << real << "/speckles_hoechst.tif,0,0,0,0,0\n";
    csv << real << "/speckles_h2ax.tif,0,0,1,0,0\n";
    csv << real << "/speckles_hoechst.tif,0,1,1,180,0\n";
  }
  auto r = run_command(vslide() + " import-tiles " + dir.file("imp.h5") + " --tiles-csv " + dir.file("tiles.csv") +
                       " --layout packed --codec blosc-zstd-bitshuffle --pixel-size-um 0.1625");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = Hdf5Slide::open(dir.file("imp.h5"));
  ASSERT_TRUE(s.ok());
  auto a = (*s)->read(TileKey{0, 0, 1});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(*a == *read_tiff16(real + "/speckles_h2ax.tif"));
  EXPECT_EQ((*s)->read(TileKey{0, 1, 0}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*s)->index()->find(0, 1)->field.stage_x_um, 180);

  // A TIFF of the wrong size, an 8-bit TIFF, a missing file: named in the error.
  ASSERT_EQ(run_command("/usr/bin/python3 -c \"import numpy, tifffile; tifffile.imwrite('" + dir.file("u8.tif") +
                        "', numpy.zeros((10, 10), numpy.uint8))\"")
                .exit_code,
            0);
  struct Case {
    std::string line, expect;
  } cases[] = {{real + "/worms_w1.tif,1,0,0,0,0", "worms_w1.tif: tile (1,0) channel 0 is 696x520"},
               {dir.file("u8.tif") + ",1,0,0,0,0", "expected 16-bit unsigned pixels, found 8-bit"},
               {dir.file("nope.tif") + ",1,0,0,0,0", "nope.tif: no such file"},
               {real + "/speckles_h2ax.tif,0,0,1,0,0", "duplicate tile (0,0) channel 1"}};
  for (const auto& c : cases) {
    {
      std::ofstream csv(dir.file("bad.csv"));
      csv << "path,row,col,channel,stage_x_um,stage_y_um\n" << real << "/speckles_hoechst.tif,0,0,0,0,0\n";
      csv << real << "/speckles_h2ax.tif,0,0,1,0,0\n" << c.line << "\n";
    }
    auto b = run_command(vslide() + " import-tiles " + dir.file("bad.h5") + " --tiles-csv " + dir.file("bad.csv") +
                         " --pixel-size-um 0.1625");
    EXPECT_NE(b.exit_code, 0) << c.line;
    EXPECT_NE(b.output.find(c.expect), std::string::npos) << b.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad.h5")));
  }
}

// Read our files with outside tools: h5py (every layout x codec) and h5dump.
TEST(StorageInterop, H5pyReadsEveryPixelOfEveryLayoutAndCodec) {
  TempDir dir;
  for (const char* layout : {"linear", "packed", "grid"}) {
    for (const char* codec : {"blosc-lz4-bitshuffle", "blosc-lz4-shuffle", "blosc-zstd-bitshuffle", "gzip", "none"}) {
      const std::string name = std::string(layout) + "-" + codec;
      const std::string path = simulate(dir, name + ".h5",
                                        std::string("--layout ") + layout + " --codec " + codec + " --timepoints 2 --sparse 0.3");
      const std::string out = dir.file(name);
      std::filesystem::create_directory(out);
      auto r = run_command("/usr/bin/python3 " VSLIDE_SOURCE_DIR "/tests/interop/h5py_read_planes.py " + path + " " + out);
      ASSERT_EQ(r.exit_code, 0) << name << ": " << r.output;
      auto s = Hdf5Slide::open(path);
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(std::stoul(r.output), (*s)->index()->planes_present()) << name;
      for (const auto& e : std::filesystem::directory_iterator(out)) {
        int rr, cc, ch, z, t;
        ASSERT_EQ(std::sscanf(e.path().filename().c_str(), "%d_%d_%d_%d_%d.raw", &rr, &cc, &ch, &z, &t), 5);
        auto img = (*s)->read(TileKey{rr, cc, ch, z, t});
        ASSERT_TRUE(img.ok());
        std::ifstream in(e.path(), std::ios::binary);
        std::vector<uint16_t> px(img->pixel_count());
        in.read(reinterpret_cast<char*>(px.data()), std::streamsize(px.size() * 2));
        EXPECT_EQ(px, img->pixels()) << name << " " << e.path();
      }
    }
  }
}

TEST(StorageInterop, H5dumpPrintsThePixels) {
  TempDir dir;
  const std::string path = simulate(dir, "d.h5", "--layout grid");
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok());
  auto img = (*s)->read(TileKey{1, 2, 1});
  ASSERT_TRUE(img.ok());
  // Plane 1 of field (1,2), first row, 6 values.
  auto r = run_command("h5dump -d /mosaic/level0 -s 1,2,1,0,0 -c 1,1,1,1,6 -y -w 0 -o " + dir.file("d.txt") + " " + path +
                       " > /dev/null && tr -s ' ,\\n' ' ' < " + dir.file("d.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expect;
  for (int x = 0; x < 6; ++x) expect += " " + std::to_string(img->at(x, 0));
  std::string got;
  std::istringstream tokens(r.output);
  for (std::string tok; tokens >> tok;) got += " " + tok;
  EXPECT_EQ(got, expect) << "h5dump printed values that differ (is the Blosc plugin installed?)";
}

TEST(StorageInterop, VslideNeedsNoHdf5Plugin) {
  TempDir dir;
  const std::string path = simulate(dir, "p.h5", "--codec blosc-zstd-bitshuffle");
  // HDF5_PLUGIN_PRELOAD=:: disables every filter plugin: h5py then fails, vslide does not.
  auto py = run_command("HDF5_PLUGIN_PRELOAD=:: /usr/bin/python3 -c \"import h5py; "
                        "print(h5py.File('" + path + "')['mosaic/level0'][0:4, 0:4])\"");
  EXPECT_NE(py.exit_code, 0) << "h5py read Blosc data without the plugin?";
  auto v = run_command("HDF5_PLUGIN_PRELOAD=:: " + vslide() + " verify " + path);
  EXPECT_EQ(v.exit_code, 0) << v.output;
  auto e = run_command("HDF5_PLUGIN_PRELOAD=:: " + vslide() + " export-tile " + path +
                       " --row 0 --col 0 --channel 0 --out " + dir.file("t.tif"));
  EXPECT_EQ(e.exit_code, 0) << e.output;
  auto s = Hdf5Slide::open(path);
  EXPECT_TRUE(*read_tiff16(dir.file("t.tif")) == *(*s)->read(TileKey{0, 0, 0}));
  // Writing without the plugin works too.
  auto w = run_command("HDF5_PLUGIN_PRELOAD=:: " + vslide() + " simulate " + dir.file("w.h5") +
                       " --rows 1 --cols 2 --channels 1 --tile 64x48 --quiet");
  EXPECT_EQ(w.exit_code, 0) << w.output;
  EXPECT_EQ(run_command("HDF5_PLUGIN_PRELOAD=:: " + vslide() + " verify " + dir.file("w.h5")).exit_code, 0);
}

}  // namespace
}  // namespace vslide
