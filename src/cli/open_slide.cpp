#include "open_slide.h"

#include "vslide/remote/remote_slide.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {

Result<std::unique_ptr<SlideSource>> open_slide(const std::string& path_or_url) {
  if (path_or_url.rfind("tcp://", 0) == 0 || path_or_url.rfind("ipc://", 0) == 0) {
    // A tile server over TCP or over a Unix socket on this host. CURVE keys, when the server needs them, come from VSLIDE_CURVE_SERVER_KEY
    // and VSLIDE_CURVE_CLIENT_KEY (see vslide/remote/remote_slide.h).
    auto remote = remote::RemoteSlide::open_from_env(path_or_url);
    if (!remote.ok()) return remote.status();
    return std::unique_ptr<SlideSource>(std::move(remote).value());
  }
  auto slide = Hdf5Slide::open(path_or_url, OpenMode::kRead);
  if (!slide.ok()) return slide.status();
  return std::unique_ptr<SlideSource>(std::move(slide).value());
}

}  // namespace vslide::cli
