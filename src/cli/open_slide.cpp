#include "open_slide.h"

#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {

Result<std::unique_ptr<SlideSource>> open_slide(const std::string& path_or_url) {
  if (path_or_url.rfind("tcp://", 0) == 0) {
    return Status::unimplemented(path_or_url + ": remote slides need the tile dealer (not built yet)");
  }
  auto slide = Hdf5Slide::open(path_or_url, OpenMode::kRead);
  if (!slide.ok()) return slide.status();
  return std::unique_ptr<SlideSource>(std::move(slide).value());
}

}  // namespace vslide::cli
