#include "vslide/storage/hdf5_slide.h"

#include <gtest/gtest.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/testing.h"
#include "slide_fixture.h"

namespace vslide {
namespace {

using testing::TempDir;
using testing::test_geometry;
using testing::test_header;
using testing::test_plane;

struct Case {
  Layout layout;
  const char* codec;
  int z, t;
  int chunk_h, chunk_w;
};

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, EveryPlaneBitExact) {
  const Case& c = GetParam();
  TempDir dir;
  auto g = test_geometry(3, 4, 2, c.z, c.t, 24, 40);
  CreateOptions opt;
  opt.layout = c.layout;
  opt.codec = *CodecSpec::parse(c.codec);
  opt.chunk_height = c.chunk_h;
  opt.chunk_width = c.chunk_w;
  const std::string path = dir.file("s.h5");
  {
    auto s = Hdf5Slide::create(path, test_header(), g, default_channels(2), opt);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    ASSERT_TRUE(testing::fill_slide(**s, g, [](int r, int col) { return r == 1 && col == 2; }).ok());
    ASSERT_TRUE((*s)->finish().ok());
  }
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->state(), SlideState::kComplete);
  EXPECT_EQ((*s)->geometry(), g);
  EXPECT_EQ((*s)->header(), test_header());
  EXPECT_EQ((*s)->codec().name(), opt.codec.name());
  EXPECT_EQ((*s)->layout(), c.layout);
  auto idx = (*s)->index();
  EXPECT_EQ(idx->fields_present(), 11u);
  EXPECT_EQ(idx->planes_present(), size_t(11 * g.planes_per_field()));
  for (int r = 0; r < g.rows; ++r)
    for (int col = 0; col < g.cols; ++col)
      for (int t = 0; t < c.t; ++t)
        for (int z = 0; z < c.z; ++z)
          for (int ch = 0; ch < 2; ++ch) {
            TileKey k{r, col, ch, z, t, 0};
            auto img = (*s)->read(k);
            if (r == 1 && col == 2) {
              EXPECT_EQ(img.status().code(), StatusCode::kNotFound);
              continue;
            }
            ASSERT_TRUE(img.ok()) << img.status().to_string();
            EXPECT_TRUE(*img == test_plane(g, k)) << k.to_string();
          }
  EXPECT_EQ((*s)->bytes_raw(), 11u * g.planes_per_field() * g.plane_bytes());
  // Tiny blocks (a few hundred bytes) cannot amortise the codec header.
  if (opt.codec.family != CodecFamily::kNone && c.chunk_h * c.chunk_w == 0) EXPECT_LT((*s)->bytes_stored(), (*s)->bytes_raw());
}

INSTANTIATE_TEST_SUITE_P(
    LayoutsCodecs, RoundTrip,
    ::testing::Values(Case{Layout::kLinear, "blosc-lz4-bitshuffle", 1, 1, 0, 0},
                      Case{Layout::kLinear, "blosc-lz4-shuffle", 2, 1, 0, 0},
                      Case{Layout::kLinear, "blosc-zstd-bitshuffle", 1, 2, 12, 20},
                      Case{Layout::kLinear, "gzip", 2, 2, 0, 0}, Case{Layout::kLinear, "none", 1, 1, 8, 40},
                      Case{Layout::kPacked, "blosc-lz4-bitshuffle", 2, 1, 0, 0},
                      Case{Layout::kPacked, "blosc-zstd-bitshuffle", 1, 2, 12, 20},
                      Case{Layout::kPacked, "gzip", 1, 1, 12, 40}, Case{Layout::kPacked, "none", 2, 2, 0, 0},
                      Case{Layout::kGrid, "blosc-lz4-bitshuffle", 1, 2, 0, 0},
                      Case{Layout::kGrid, "blosc-lz4-shuffle", 2, 2, 6, 10}, Case{Layout::kGrid, "gzip", 2, 1, 0, 0},
                      Case{Layout::kGrid, "none", 1, 1, 0, 0}, Case{Layout::kGrid, "blosc-blosclz-shuffle", 1, 1, 0, 0}));

TEST(Hdf5Slide, OddSizedTilesAndZoomLevels) {
  TempDir dir;
  auto g = test_geometry(2, 3, 1, 1, 1, 37, 53);
  const std::string path = dir.file("odd.h5");
  {
    auto s = Hdf5Slide::create(path, test_header(), g, default_channels(1), CreateOptions{});
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    ASSERT_TRUE(testing::fill_slide(**s, g, [](int, int) { return false; }).ok());
    ASSERT_TRUE((*s)->finish().ok());
  }
  {
    auto s = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    ASSERT_TRUE((*s)->add_zoom_level(1).ok());
    ASSERT_TRUE((*s)->add_zoom_level(3).ok());
    for (int level : {1, 3}) {
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c) {
          TileKey k{r, c, 0, 0, 0, level};
          ASSERT_TRUE((*s)->write_plane(k, test_plane(g, k)).ok());
        }
    }
    Overview ov;
    ov.image = Image16(10, 7);
    ov.image.at(3, 4) = 999;
    ov.um_per_px = 12.5;
    ov.origin_x_um = -3;
    ASSERT_TRUE((*s)->write_overview(ov).ok());
  }
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->zoom_levels(), (std::vector<int32_t>{0, 1, 3}));
  TileKey k{1, 2, 0, 0, 0, 3};
  auto img = (*s)->read(k);
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  EXPECT_EQ(img->width(), 7);  // ceil(53 / 8)
  EXPECT_EQ(img->height(), 5);  // ceil(37 / 8)
  EXPECT_TRUE(*img == test_plane(g, k));
  EXPECT_EQ((*s)->read(TileKey{0, 0, 0, 0, 0, 2}).status().code(), StatusCode::kNotFound);
  auto ov = (*s)->read_overview(0);
  ASSERT_TRUE(ov.ok()) << ov.status().to_string();
  EXPECT_EQ(ov->image.at(3, 4), 999);
  EXPECT_DOUBLE_EQ(ov->um_per_px, 12.5);
}

TEST(Hdf5Slide, SparseMosaicBisection) {
  TempDir dir;
  auto g = test_geometry(20, 30, 1, 1, 1, 8, 8);
  const std::string path = dir.file("sparse.h5");
  auto skip = [](int r, int c) { return (r * 31 + c * 17) % 5 != 0; };
  {
    auto s = Hdf5Slide::create(path, test_header(), g, default_channels(1), CreateOptions{});
    ASSERT_TRUE(s.ok());
    // Out of order on purpose: the index sorts.
    for (int c = g.cols - 1; c >= 0; --c)
      for (int r = 0; r < g.rows; ++r) {
        if (skip(r, c)) continue;
        ASSERT_TRUE((*s)->write_field(FieldOfView{r, c, double(c), double(r), 0, 0}).ok());
        ASSERT_TRUE((*s)->write_plane(TileKey{r, c, 0, 0, 0, 0}, test_plane(g, TileKey{r, c})).ok());
      }
    ASSERT_TRUE((*s)->finish().ok());
  }
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok());
  auto idx = (*s)->index();
  size_t expected = 0;
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      bool present = !skip(r, c);
      expected += present;
      ASSERT_EQ(idx->find(r, c) != nullptr, present);
      if (present) {
        EXPECT_EQ(idx->find(r, c)->field.stage_x_um, double(c));
        auto img = (*s)->read(TileKey{r, c});
        ASSERT_TRUE(img.ok());
        EXPECT_TRUE(*img == test_plane(g, TileKey{r, c}));
      }
    }
  EXPECT_EQ(idx->fields_present(), expected);
  for (size_t i = 1; i < idx->entries().size(); ++i) {
    const auto& a = idx->entries()[i - 1].field;
    const auto& b = idx->entries()[i].field;
    EXPECT_LT(std::pair(a.row, a.col), std::pair(b.row, b.col));
  }
}

TEST(Hdf5Slide, ConcurrentReadersAndWriters) {
  TempDir dir;
  auto g = test_geometry(4, 6, 3, 1, 1, 64, 96);
  const std::string path = dir.file("mt.h5");
  {
    auto s = Hdf5Slide::create(path, test_header(), g, default_channels(3), CreateOptions{});
    ASSERT_TRUE(s.ok());
    for (int r = 0; r < g.rows; ++r)
      for (int c = 0; c < g.cols; ++c) ASSERT_TRUE((*s)->write_field(FieldOfView{r, c, 0, 0, 0, 0}).ok());
    std::vector<std::thread> writers;
    std::atomic<int> failures{0};
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        for (int i = w; i < g.rows * g.cols * 3; i += 4) {
          TileKey k{i / 3 / g.cols, (i / 3) % g.cols, i % 3, 0, 0, 0};
          if (!(*s)->write_plane(k, test_plane(g, k)).ok()) failures++;
        }
      });
    }
    for (auto& t : writers) t.join();
    EXPECT_EQ(failures.load(), 0);
    ASSERT_TRUE((*s)->finish().ok());
  }
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok());
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int w = 0; w < 6; ++w) {
    readers.emplace_back([&, w] {
      for (int rep = 0; rep < 3; ++rep)
        for (int i = w; i < g.rows * g.cols * 3; i += 2) {
          TileKey k{i / 3 / g.cols, (i / 3) % g.cols, i % 3, 0, 0, 0};
          auto img = (*s)->read(k);
          if (!img.ok() || !(*img == test_plane(g, k))) bad++;
        }
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Hdf5Slide, UnfinishedFileReadableUpToLastFlushedTile) {
  TempDir dir;
  auto g = test_geometry(2, 5, 2, 1, 1, 16, 16);
  const std::string path = dir.file("unfinished.h5");
  for (bool swmr : {false, true}) {
    CreateOptions opt;
    opt.swmr = swmr;
    opt.overwrite = true;
    auto s = Hdf5Slide::create(path, test_header(), g, default_channels(2), opt);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    for (int c = 0; c < 4; ++c) {
      ASSERT_TRUE((*s)->write_field(FieldOfView{0, c, 0, 0, 0, 0}).ok());
      for (int ch = 0; ch < 2; ++ch) ASSERT_TRUE((*s)->write_plane(TileKey{0, c, ch}, test_plane(g, TileKey{0, c, ch})).ok());
    }
    ASSERT_TRUE((*s)->flush().ok());
    // Another reader sees the slide while it is being written.
    auto r = Hdf5Slide::open(path);
    ASSERT_TRUE(r.ok()) << "swmr=" << swmr << " " << r.status().to_string();
    EXPECT_EQ((*r)->state(), SlideState::kScanning);
    EXPECT_EQ((*r)->index()->fields_complete(), 4u);
    auto img = (*r)->read(TileKey{0, 3, 1});
    ASSERT_TRUE(img.ok()) << img.status().to_string();
    EXPECT_TRUE(*img == test_plane(g, TileKey{0, 3, 1}));
    r->reset();
    // The writer "dies": the handle is dropped without finish().
    s->reset();
    auto again = Hdf5Slide::open(path);
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_EQ((*again)->state(), SlideState::kScanning);
    EXPECT_EQ((*again)->index()->planes_present(), 8u);
    again->reset();
    // Recovery: reopen to append, complete and finish.
    auto rec = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(rec.ok()) << rec.status().to_string();
    ASSERT_TRUE((*rec)->write_field(FieldOfView{1, 0, 0, 0, 0, 0}).ok());
    ASSERT_TRUE((*rec)->write_plane(TileKey{1, 0, 0}, test_plane(g, TileKey{1, 0, 0})).ok());
    ASSERT_TRUE((*rec)->finish(SlideState::kRecovered).ok());
    rec->reset();
    auto done = Hdf5Slide::open(path);
    ASSERT_TRUE(done.ok());
    EXPECT_EQ((*done)->state(), SlideState::kRecovered);
    EXPECT_EQ((*done)->index()->planes_present(), 9u);
  }
}

TEST(Hdf5Slide, DetectionLayers) {
  TempDir dir;
  auto g = test_geometry(1, 2, 1, 1, 1, 8, 12);
  const std::string path = dir.file("det.h5");
  {
    auto s = Hdf5Slide::create(path, test_header(), g, default_channels(1), CreateOptions{});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(testing::fill_slide(**s, g, [](int, int) { return false; }).ok());
    LabelTile t{12, 8, std::vector<uint32_t>(96, 0)};
    t.labels[5] = 7;
    t.labels[95] = 70000;
    ASSERT_TRUE((*s)->write_labels("nuclei", TileKey{0, 1}, t).ok());
    ASSERT_TRUE((*s)->write_objects_json("nuclei", R"([{"id":7}])").ok());
    ASSERT_TRUE((*s)->finish().ok());
  }
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->detection_layers(), std::vector<std::string>{"nuclei"});
  auto t = (*s)->read_labels("nuclei", TileKey{0, 1});
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->labels[5], 7u);
  EXPECT_EQ(t->labels[95], 70000u);
  EXPECT_EQ((*s)->read_labels("nuclei", TileKey{0, 0}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*(*s)->read_objects_json("nuclei"), R"([{"id":7}])");
  EXPECT_EQ((*s)->read_labels("cells", TileKey{0, 1}).status().code(), StatusCode::kNotFound);
}

// A viewer or a dealer watching a live scan holds the file open in another
// process (with HDF5's shared lock); the scan must still finish. The watcher
// here is h5py, as a user's notebook would be.
TEST(Hdf5Slide, ScanFinishesWhileAnotherProcessWatchesIt) {
  TempDir dir;
  auto g = test_geometry(1, 3, 1, 1, 1, 16, 16);
  const std::string path = dir.file("watched.h5");
  CreateOptions opt;
  opt.swmr = true;
  auto s = Hdf5Slide::create(path, test_header(), g, default_channels(1), opt);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  for (int c = 0; c < 3; ++c) {
    ASSERT_TRUE((*s)->write_field(FieldOfView{0, c, 0, 0, 0, 0}).ok());
    ASSERT_TRUE((*s)->write_plane(TileKey{0, c, 0}, test_plane(g, TileKey{0, c, 0})).ok());
  }
  ASSERT_TRUE((*s)->flush().ok());

  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t watcher = fork();
  ASSERT_GE(watcher, 0);
  if (watcher == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl("/usr/bin/python3", "python3", "-c",
          "import h5py, sys, time\n"
          "f = h5py.File(sys.argv[1], 'r', swmr=True)\n"
          "print('open', flush=True)\n"
          "time.sleep(60)\n",
          path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  char line[8] = {};
  ASSERT_EQ(read(out[0], line, 4), 4) << "h5py did not open the live slide";
  close(out[0]);
  ASSERT_STREQ(line, "open");

  Status finished = (*s)->finish();
  kill(watcher, SIGKILL);
  waitpid(watcher, nullptr, 0);
  ASSERT_TRUE(finished.ok()) << finished.to_string();
  s->reset();
  auto done = Hdf5Slide::open(path);
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_EQ((*done)->state(), SlideState::kComplete);
  EXPECT_EQ((*done)->index()->planes_present(), 3u);
}

}  // namespace
}  // namespace vslide
