// The one place that joins storage and remote: opens a slide from a file
// path, a tcp:// URL ("tcp://host:port/SLIDE_ID") or an ipc:// URL
// ("ipc://SOCKET_PATH/SLIDE_ID", a server on this host's Unix socket).
#pragma once

#include <memory>
#include <string>

#include "vslide/core/slide_source.h"

namespace vslide::cli {

Result<std::unique_ptr<SlideSource>> open_slide(const std::string& path_or_url);

}  // namespace vslide::cli
