// `vslide import-tiles` as a microscopist runs it: OME-TIFF written by
// tifffile (multi-position, C/Z/T, Micro-Manager file sets), multi-page
// TIFFs through a CSV, the channel table, the tile spacing check, and
// bad input refused with its reason. Every plane is compared bit-exact with
// the raw planes the writing script dumped beside the files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

using testing::run_command;
using testing::TempDir;

std::string vslide() { return testing::vslide_binary(); }

std::string make_inputs(const TempDir& dir, const std::string& kind) {
  const std::string out = dir.file(kind);
  auto r = run_command("/usr/bin/python3 " VSLIDE_SOURCE_DIR "/tests/cli/import_ome_tiffs.py " + kind + " " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

// Every ROW_COL_C_Z_T.raw in `folder` equals the slide's plane; returns how many.
int check_planes(const Hdf5Slide& slide, const std::string& folder) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    int r, c, ch, z, t;
    if (std::sscanf(e.path().filename().c_str(), "%d_%d_%d_%d_%d.raw", &r, &c, &ch, &z, &t) != 5) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto img = slide.read(TileKey{r, c, ch, z, t});
    EXPECT_TRUE(img.ok()) << e.path() << ": " << img.status().to_string();
    if (!img.ok()) continue;
    EXPECT_EQ(bytes.size(), img->byte_size()) << e.path();
    EXPECT_EQ(std::memcmp(bytes.data(), img->data(), std::min(bytes.size(), img->byte_size())), 0) << e.path();
    ++n;
  }
  return n;
}

nlohmann::json manifest(const std::string& folder) {
  std::ifstream in(folder + "/manifest.json");
  return nlohmann::json::parse(in);
}

TEST(ImportTiles, OmeTiffMosaicEveryPlaneWhereItsMetadataSays) {
  TempDir dir;
  const std::string in = make_inputs(dir, "mosaic");
  const std::string out = dir.file("m.h5");
  auto r = run_command(vslide() + " import-tiles " + out + " --ome-tiff " + in + "/mosaic.ome.tif --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = Hdf5Slide::open(out);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const MosaicGeometry& g = (*s)->geometry();
  EXPECT_EQ((std::array{g.rows, g.cols, g.channels, g.z_planes, g.timepoints, g.tile_width, g.tile_height}),
            (std::array{2, 2, 2, 2, 2, 64, 48}));
  EXPECT_DOUBLE_EQ(g.pixel_size_um, 0.5);  // PhysicalSizeX
  EXPECT_EQ(check_planes(**s, in), 32);
  EXPECT_EQ((*s)->index()->planes_present(), 32u);
  const auto listed = manifest(in);
  for (const auto& f : listed["fields"]) {
    const auto* e = (*s)->index()->find(f["row"], f["col"]);
    ASSERT_NE(e, nullptr);
    EXPECT_NEAR(e->field.stage_x_um, f["x"].get<double>(), 1e-9);
    EXPECT_NEAR(e->field.stage_y_um, f["y"].get<double>(), 1e-9);
    EXPECT_DOUBLE_EQ(e->field.stage_z_um, 5.0);
  }
  const auto& ch = (*s)->channels();
  EXPECT_EQ(ch[0].name, "Hoechst");
  EXPECT_EQ(ch[1].name, "AF488");
  EXPECT_EQ(rgb_to_hex(ch[0].color), "#0000ff");  // OME Color 65535 = RGBA 0x0000FFFF
  EXPECT_EQ(rgb_to_hex(ch[1].color), "#00ff00");  // 16711935 = 0x00FF00FF
  // Windows from the data (uniform 0..4095): near the ends, not a fixed default.
  EXPECT_LT(ch[0].contrast_low, 20);
  EXPECT_GT(ch[0].contrast_high, 4070);
  EXPECT_LE(ch[0].contrast_high, 4095);
  EXPECT_EQ((*s)->header().instrument, "imported");
}

TEST(ImportTiles, MicroManagerFileSetFromAFolder) {
  TempDir dir;
  const std::string in = make_inputs(dir, "mmstack");
  const std::string out = dir.file("mm.h5");
  auto r = run_command(vslide() + " import-tiles " + out + " --ome-tiff " + in + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = Hdf5Slide::open(out);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(check_planes(**s, in), 4);
  EXPECT_EQ((*s)->channels()[1].name, "Cy5");
  EXPECT_EQ((*s)->geometry().cols, 2);
  EXPECT_DOUBLE_EQ((*s)->index()->find(0, 1)->field.stage_x_um, 29.0);
}

TEST(ImportTiles, OneFilePerPositionWrittenAlone) {
  TempDir dir;
  const std::string in = make_inputs(dir, "separate");
  const std::string out = dir.file("sep.h5");
  auto r = run_command(vslide() + " import-tiles " + out + " --ome-tiff " + in + "/pos0.ome.tif --ome-tiff " + in +
                       "/pos1.ome.tif --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = Hdf5Slide::open(out);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(check_planes(**s, in), 6);
  EXPECT_EQ((*s)->geometry().z_planes, 3);
  EXPECT_DOUBLE_EQ((*s)->index()->find(0, 1)->field.stage_x_um, 29.0);
}

TEST(ImportTiles, APageTheMetadataDoesNotDescribeIsRefusedNotDropped) {
  TempDir dir;
  const std::string in = make_inputs(dir, "extrapage");
  auto r = run_command(vslide() + " import-tiles " + dir.file("x.h5") + " --ome-tiff " + in + "/extra.ome.tif");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("extra.ome.tif page 3 of 4 is not described by the OME-XML"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.h5")));
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find("x.h5.importing"), std::string::npos) << e.path();
  }
}

TEST(ImportTiles, NeverWritesThroughALinkPlantedAtTheTemporaryName) {
  // Found auditing issue 16 on 1d55ca3: the slide was written as OUT.importing,
  // a fixed name, so a symlink planted there (in a shared folder) made the
  // import overwrite the link's target and rename the link over OUT.
  TempDir dir;
  const std::string in = make_inputs(dir, "separate");
  const std::string out = dir.file("sep.h5"), victim = dir.file("victim.txt");
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, out + ".importing");
  auto r = run_command(vslide() + " import-tiles " + out + " --ome-tiff " + in + "/pos0.ome.tif --ome-tiff " + in +
                       "/pos1.ome.tif --quiet 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream v(victim);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>()), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(out));
  EXPECT_TRUE(Hdf5Slide::open(out).ok());
}

// A 3-page TIFF written by libtiff through vslide's own writer is not enough:
// tifffile writes the stack; the CSV must say which page each row is.
TEST(ImportTiles, MultiPageTiffNeedsAPageColumnThenImportsEveryPage) {
  TempDir dir;
  auto py = run_command("/usr/bin/python3 -c \"import numpy as np, tifffile; "
                        "d = np.random.default_rng(1).integers(0, 65535, (3, 40, 50), dtype=np.uint16); "
                        "tifffile.imwrite('" + dir.file("stack.tif") + "', d, photometric='minisblack'); "
                        "[d[k].astype('<u2').tofile('" + dir.path().string() + "/0_' + str(k) + '_0_0_0.raw') for k in range(3)]\"");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  {
    std::ofstream csv(dir.file("nopage.csv"));
    csv << "path,row,col,channel,stage_x_um,stage_y_um\nstack.tif,0,0,0,0,0\n";
  }
  auto r = run_command(vslide() + " import-tiles " + dir.file("a.h5") + " --tiles-csv " + dir.file("nopage.csv") +
                       " --pixel-size-um 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("stack.tif has 3 pages; say which in a 'page' column"), std::string::npos) << r.output;
  {
    std::ofstream csv(dir.file("pages.csv"));
    csv << "\xEF\xBB\xBFpath,row,col,channel,page,stage_x_px,stage_y_px\n";  // with a byte-order mark
    for (int k = 0; k < 3; ++k) csv << "stack.tif,0," << k << ",0," << k << "," << 45 * k << ",0\n";
  }
  r = run_command(vslide() + " import-tiles " + dir.file("a.h5") + " --tiles-csv " + dir.file("pages.csv") +
                  " --pixel-size-um 0.25 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = Hdf5Slide::open(dir.file("a.h5"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(check_planes(**s, dir.path().string()), 3);
  EXPECT_DOUBLE_EQ((*s)->index()->find(0, 2)->field.stage_x_um, 90 * 0.25);  // pixels -> um
  EXPECT_EQ((*s)->channels()[0].name, "Channel 0");
  EXPECT_EQ(rgb_to_hex((*s)->channels()[0].color), "#ffffff");
  // An RGB TIFF is refused with its reason, not imported as one grey plane.
  py = run_command("/usr/bin/python3 -c \"import numpy as np, tifffile; "
                   "tifffile.imwrite('" + dir.file("rgb.tif") + "', np.zeros((40, 50, 3), np.uint16), photometric='rgb')\"");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  {
    std::ofstream csv(dir.file("rgb.csv"));
    csv << "path,row,col,channel,stage_x_um,stage_y_um\nrgb.tif,0,0,0,0,0\n";
  }
  r = run_command(vslide() + " import-tiles " + dir.file("b.h5") + " --tiles-csv " + dir.file("rgb.csv") +
                  " --pixel-size-um 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("rgb.tif: expected one sample per pixel (grayscale), found 3"), std::string::npos) << r.output;
}

// Fields of 50x40 px: tiles.csv with the given positions (um columns).
void write_grid_csv(const TempDir& dir, const std::string& name, double step_x, double step_y,
                    const std::string& extra_header = "", const std::string& extra = "") {
  if (!std::filesystem::exists(dir.file("f.tif"))) {
    Image16 img(50, 40);
    for (size_t i = 0; i < img.pixel_count(); ++i) img.pixels()[i] = uint16_t(100 + (i * 37) % 900);
    ASSERT_TRUE(write_tiff16(dir.file("f.tif"), img).ok());
  }
  std::ofstream csv(dir.file(name));
  csv << "path,row,col,channel,stage_x_um,stage_y_um" << extra_header << "\n";
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) {
      for (int ch = 0; ch < 2; ++ch) csv << "f.tif," << r << "," << c << "," << ch << "," << c * step_x << "," << r * step_y << extra << "\n";
    }
  }
}

TEST(ImportTiles, SpacingAgainstTileSizeTimesPixelSize) {
  TempDir dir;
  // Tiles 50x40 px at 0.5 um = 25 x 20 um. Positions written in pixels into the um columns: scatter.
  write_grid_csv(dir, "px.csv", 45, 36);
  auto r = run_command(vslide() + " import-tiles " + dir.file("s.h5") + " --tiles-csv " + dir.file("px.csv") +
                       " --pixel-size-um 0.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the mosaic would scatter: neighbouring columns lie 45.0 um apart (median of 4 pairs) but a"
                          " tile is 50x40 px x 0.5000 um = 25.0 x 20.0 um, leaving 20.0 um gaps"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("--position-units"), std::string::npos);
  // A forgotten --pixel-size-um: the files state none.
  r = run_command(vslide() + " import-tiles " + dir.file("s.h5") + " --tiles-csv " + dir.file("px.csv"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the files do not state a pixel size: give --pixel-size-um"), std::string::npos) << r.output;
  // The same numbers declared as pixels: a good mosaic, 10% overlap.
  r = run_command(vslide() + " import-tiles " + dir.file("s.h5") + " --tiles-csv " + dir.file("px.csv") +
                  " --pixel-size-um 0.5 --position-units px --quiet");
  EXPECT_EQ(r.exit_code, 1) << "um columns contradict --position-units px";
  EXPECT_NE(r.output.find("contradict --position-units"), std::string::npos) << r.output;
  write_grid_csv(dir, "um.csv", 22.5, 18);
  r = run_command(vslide() + " import-tiles " + dir.file("s.h5") + " --tiles-csv " + dir.file("um.csv") +
                  " --pixel-size-um 0.5 --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Piled up: every field at the same place.
  write_grid_csv(dir, "pile.csv", 0.5, 0.5);
  r = run_command(vslide() + " import-tiles " + dir.file("p.h5") + " --tiles-csv " + dir.file("pile.csv") +
                  " --pixel-size-um 0.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the mosaic would pile up: neighbouring columns lie 0.5 um apart"), std::string::npos)
      << r.output;
  r = run_command(vslide() + " import-tiles " + dir.file("p.h5") + " --tiles-csv " + dir.file("pile.csv") +
                  " --pixel-size-um 0.5 --no-spacing-check --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(ImportTiles, ChannelTableFromOptionsAndSidecar) {
  TempDir dir;
  write_grid_csv(dir, "t.csv", 22.5, 18);
  auto r = run_command(vslide() + " import-tiles " + dir.file("c.h5") + " --tiles-csv " + dir.file("t.csv") +
                       " --pixel-size-um 0.5 --quiet --channel-names DAPI,Phalloidin --channel-colors blue,#ff8000"
                       " --excitation-nm 405,561 --emission-nm 450,600 --windows 90:1000,0:65535");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = Hdf5Slide::open(dir.file("c.h5"));
  ASSERT_TRUE(s.ok());
  const auto& c = (*s)->channels();
  EXPECT_EQ(c[1].name, "Phalloidin");
  EXPECT_EQ(rgb_to_hex(c[1].color), "#ff8000");
  EXPECT_EQ(c[0].excitation_nm, 405);
  EXPECT_EQ(c[1].emission_nm, 600);
  EXPECT_EQ((std::array{c[0].contrast_low, c[0].contrast_high}), (std::array<uint16_t, 2>{90, 1000}));
  s->reset();
  {
    std::ofstream j(dir.file("channels.json"));
    j << R"([{"name": "Hoechst 33342", "color": "#0000ff", "excitation_nm": 350},
             {"name": "mCherry", "contrast_low": 5, "contrast_high": 900}])";
  }
  r = run_command(vslide() + " import-tiles " + dir.file("c.h5") + " --tiles-csv " + dir.file("t.csv") +
                  " --pixel-size-um 0.5 --quiet --channels-json " + dir.file("channels.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  s = Hdf5Slide::open(dir.file("c.h5"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->channels()[0].name, "Hoechst 33342");
  EXPECT_EQ((*s)->channels()[0].excitation_nm, 350);
  EXPECT_EQ((*s)->channels()[1].contrast_high, 900);
  // Channel 0's window came from the data (pixels 100..999).
  EXPECT_GE((*s)->channels()[0].contrast_low, 100);
  EXPECT_LE((*s)->channels()[0].contrast_high, 999);
  s->reset();
  r = run_command(vslide() + " import-tiles " + dir.file("c.h5") + " --tiles-csv " + dir.file("t.csv") +
                  " --pixel-size-um 0.5 --channel-names OnlyOne");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--channel-names: 1 items, the tiles have 2 channels"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir.file("c.h5"))) << "a failed import must not remove an older OUT";
}

TEST(ImportTiles, NumbersAreStrictAndInputsAreNotOverwritten) {
  TempDir dir;
  write_grid_csv(dir, "ok.csv", 22.5, 18);
  struct Case {
    std::string row, expect;
  } cases[] = {{"f.tif,1.5,0,0,0,0", "row '1.5' is not an integer"},
               {"f.tif,0,0,0,nan,0", "stage_x_um 'nan' is not a finite number"},
               {"f.tif,0,0,0,1e308,0", "stage_x_um 1e308 is beyond"},
               {"f.tif,0,0,x,0,0", "channel 'x' is not an integer"},
               {"f.tif,0,0,99,0,0", "channel 99 is outside 0..63"},
               {"f.tif,0,0", "3 fields, the header has 6"}};
  for (const auto& c : cases) {
    {
      std::ofstream csv(dir.file("bad.csv"));
      csv << "path,row,col,channel,stage_x_um,stage_y_um\n" << c.row << "\n";
    }
    auto r = run_command(vslide() + " import-tiles " + dir.file("b.h5") + " --tiles-csv " + dir.file("bad.csv") +
                         " --pixel-size-um 0.5");
    EXPECT_EQ(r.exit_code, 1) << c.row;
    EXPECT_NE(r.output.find("bad.csv line 2: " + c.expect), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("b.h5")));
  }
  const auto before = std::filesystem::file_size(dir.file("ok.csv"));
  auto r = run_command(vslide() + " import-tiles " + dir.file("ok.csv") + " --tiles-csv " + dir.file("ok.csv") +
                       " --pixel-size-um 0.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is an input of this import"), std::string::npos) << r.output;
  EXPECT_EQ(std::filesystem::file_size(dir.file("ok.csv")), before);
  r = run_command(vslide() + " import-tiles " + dir.file("f.tif") + " --tiles-csv " + dir.file("ok.csv") +
                  " --pixel-size-um 0.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(read_tiff16(dir.file("f.tif")).ok()) << "the input TIFF survives";
}

}  // namespace
}  // namespace vslide
