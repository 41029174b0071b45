// The HDF5 open path on mutated small slide files. The input is a patch list
// applied to a real slide made at start-up: (offset u32 LE, value u8) records,
// and a first byte that may truncate the file. Opening, listing, reading every
// tile, the overview and the detection layer, and verifying the index digest
// must give errors, never a crash or an unbounded allocation. Structure-aware: every input is "a slide with a few bytes
// flipped", the corruption that matters.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <hdf5.h>

#include "fuzz_support.h"
#include "vslide/storage/hdf5_slide.h"

using namespace vslide;

namespace {
void read_everything(const std::string& path);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<uint8_t> seed = [] {
    const std::string path = fuzz::make_small_slide("seed");
    {
      // The optional parts a reader sizes from the file: an overview, a
      // detection layer (label tiles and an object table).
      auto w = Hdf5Slide::open(path, OpenMode::kAppend);
      if (!w.ok()) abort();
      Overview ov;
      ov.image = Image16(16, 8);
      LabelTile labels;
      labels.width = 32;
      labels.height = 24;
      labels.labels.assign(32 * 24, 3);
      if (!(*w)->write_overview(ov).ok() || !(*w)->write_labels("cells", TileKey{0, 1, 0, 0, 0, 0}, labels).ok() ||
          !(*w)->write_objects_json("cells", R"([{"id":3}])").ok()) {
        abort();
      }
    }
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ::unlink(path.c_str());
    return bytes;
  }();
  static const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/vslide-fuzz-open-" + std::to_string(::getpid()) + ".h5";
  std::vector<uint8_t> file = seed;
  if (size >= 1 && data[0] >= 0xF0) file.resize(file.size() * size_t(data[0] - 0xF0) / 16);
  for (size_t i = 1; i + 5 <= size; i += 5) {
    uint32_t offset;
    std::memcpy(&offset, data + i, 4);
    if (!file.empty()) file[offset % file.size()] = data[i + 4];
  }
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) return 0;
  const bool written = ::write(fd, file.data(), file.size()) == ssize_t(file.size());
  ::close(fd);
  if (!written) return 0;
  read_everything(path);
  // Every HDF5 object vslide opened for the file is closed again, on every
  // error path too: an identifier left open is a leak of vslide's (libhdf5's
  // own leaks on damaged files are not, and leak checking is off here).
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
    std::fprintf(stderr, "fuzz_hdf5_open: %lld HDF5 identifiers left open after the slide was closed\n",
                 static_cast<long long>(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL)));
    abort();
  }
  return 0;
}

namespace {
void read_everything(const std::string& path) {
  auto slide = Hdf5Slide::open(path, OpenMode::kRead);
  if (!slide.ok()) return;
  const auto& g = (*slide)->geometry();
  if (!g.valid()) abort();  // open() must refuse a geometry outside the limits
  auto index = (*slide)->index();
  for (const auto& e : index->entries()) {
    for (int ch = 0; ch < g.channels; ++ch) {
      (void)(*slide)->read(TileKey{e.field.row, e.field.col, ch, 0, 0, 0});
      (void)(*slide)->read_chunk(TileKey{e.field.row, e.field.col, ch, 0, 0, 0});
    }
  }
  (void)(*slide)->read(TileKey{0, 0, 0, 0, 0, 1});
  (void)(*slide)->read_overview(0);
  for (const auto& layer : (*slide)->detection_layers()) {
    (void)(*slide)->read_labels(layer, TileKey{0, 1, 0, 0, 0, 0});
    (void)(*slide)->read_objects_json(layer);
  }
  (void)(*slide)->check_index_digest();
}
}  // namespace
