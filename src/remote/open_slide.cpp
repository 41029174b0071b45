#include "vslide/remote/open_slide.h"

#include "vslide/remote/remote_slide.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {

Result<std::unique_ptr<SlideSource>> open_slide(const std::string& path_or_url) {
  if (path_or_url.rfind("tcp://", 0) == 0 || path_or_url.rfind("ipc://", 0) == 0) {
    auto remote = remote::RemoteSlide::open_from_env(path_or_url);
    if (!remote.ok()) return remote.status();
    return std::unique_ptr<SlideSource>(std::move(remote).value());
  }
  auto slide = Hdf5Slide::open(path_or_url, OpenMode::kRead);
  if (!slide.ok()) return slide.status();
  return std::unique_ptr<SlideSource>(std::move(slide).value());
}

}  // namespace vslide
