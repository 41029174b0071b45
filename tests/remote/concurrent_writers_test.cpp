// `pyramid` and `detect` rewrite a slide that a running `vslide serve` has
// mapped (issue 16: truncation or growth under a read-only mapping is SIGBUS).
// They write aside and rename over the slide; the server must keep serving
// the old file's tiles bit-exact while they run and the new file's layers
// after, and never die. A real serve process, real verbs, a client reading
// all the while.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/serve_process.h"
#include "common/testing.h"
#include "vslide/remote/remote_slide.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

using remote::RemoteSlide;
using testing::run_command;
using testing::TempDir;

TEST(ConcurrentWriters, PyramidAndDetectRewriteASlideWhileServeKeepsServingIt) {
  TempDir dir;
  const std::string path = dir.file("served.h5");
  const std::string bin = testing::vslide_binary();
  auto sim = run_command(bin + " simulate " + path +
                         " --rows 4 --cols 5 --channels 2 --tile 1024x768 --seed 11 --threads 2 --quiet");
  ASSERT_EQ(sim.exit_code, 0) << sim.output;
  // What every level-0 tile holds: pyramid and detect add layers, never change these.
  std::vector<TileKey> keys;
  std::vector<Image16> expected;
  std::string slide_id;
  {
    auto local = Hdf5Slide::open(path);
    ASSERT_TRUE(local.ok()) << local.status().to_string();
    slide_id = (*local)->header().slide_id;
    for (const auto& e : (*local)->index()->entries()) {
      for (int ch = 0; ch < 2; ++ch) {
        keys.push_back(TileKey{e.field.row, e.field.col, ch, 0, 0, 0});
        auto img = (*local)->read(keys.back());
        ASSERT_TRUE(img.ok()) << img.status().to_string();
        expected.push_back(std::move(*img));
      }
    }
  }
  ASSERT_EQ(keys.size(), 40u);

  testing::ServeProcess server({path, "--bind", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(server.endpoint().empty()) << "vslide serve printed no endpoint";
  const std::string url = server.endpoint() + "/" + slide_id;

  // A client that keeps reading while the writers run: one slide object held
  // across the renames (its requests resolve to the file it first saw) and a
  // fresh one every round (which sees the newest file).
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, failures{0}, mismatches{0};
  std::string first_failure;
  std::thread reader([&] {
    remote::RemoteSlideOptions o;
    o.retries = 0;
    auto held = RemoteSlide::open(url, o);
    if (!held.ok()) {
      first_failure = held.status().to_string();
      ++failures;
      return;
    }
    for (size_t i = 0; !stop.load(); ++i) {
      auto fresh = RemoteSlide::open(url, o);
      for (RemoteSlide* s : {held->get(), fresh.ok() ? fresh->get() : nullptr}) {
        if (s == nullptr) {
          if (first_failure.empty()) first_failure = fresh.status().to_string();
          ++failures;
          continue;
        }
        const size_t k = (i * 7 + (s == held->get() ? 0 : 3)) % keys.size();
        auto img = s->read(keys[k]);
        ++reads;
        if (!img.ok()) {
          if (first_failure.empty()) first_failure = keys[k].to_string() + ": " + img.status().to_string();
          ++failures;
        } else if (img->byte_size() != expected[k].byte_size() ||
                   std::memcmp(img->data(), expected[k].data(), img->byte_size()) != 0) {
          ++mismatches;
        }
      }
    }
  });

  // Three rounds of both verbs, each renaming a new file over the served one.
  for (int i = 0; i < 200 && reads.load() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const int before_writers = reads.load();
  testing::CommandResult pyramid, detect;
  for (int round = 0; round < 3; ++round) {
    pyramid = run_command(bin + " pyramid " + path + " --threads 1 --force");
    detect = run_command(bin + " detect " + path + " --pipeline nuclei --channel 0 --name nuclei");
    if (pyramid.exit_code != 0 || detect.exit_code != 0) break;
  }
  const int during_writers = reads.load() - before_writers;
  // Let the client read the renamed file for a while too.
  const int before_stop = reads.load();
  for (int i = 0; i < 200 && reads.load() < before_stop + 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  stop = true;
  reader.join();
  EXPECT_EQ(pyramid.exit_code, 0) << pyramid.output;
  EXPECT_EQ(detect.exit_code, 0) << detect.output;

  EXPECT_GE(during_writers, 10) << "the client hardly read while the writers ran";
  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
  EXPECT_EQ(mismatches.load(), 0);

  // The server is still up and serves what the writers added.
  remote::RemoteSlideOptions o;
  o.retries = 0;
  auto after = RemoteSlide::open(url, o);
  ASSERT_TRUE(after.ok()) << "the server stopped serving: " << after.status().to_string();
  EXPECT_GT((*after)->zoom_levels().size(), 1u);
  const auto layers = (*after)->detection_layers();
  EXPECT_NE(std::find(layers.begin(), layers.end(), "nuclei"), layers.end());
  auto tile = (*after)->read(keys[5]);
  ASSERT_TRUE(tile.ok()) << tile.status().to_string();
  EXPECT_EQ(std::memcmp(tile->data(), expected[5].data(), tile->byte_size()), 0);
  auto zoomed = (*after)->read(TileKey{keys[5].row, keys[5].col, keys[5].channel, 0, 0, 1});
  EXPECT_TRUE(zoomed.ok()) << zoomed.status().to_string();
}

}  // namespace
}  // namespace vslide
