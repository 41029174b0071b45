// The one place that joins storage and remote: opens a slide from a file
// path, a tcp:// URL ("tcp://host:port/SLIDE_ID") or an ipc:// URL
// ("ipc://SOCKET_PATH/SLIDE_ID", a server on this host's Unix socket).
// Used by the command line, the window and the Python module.
//
// CURVE keys, when a server needs them, come from VSLIDE_CURVE_SERVER_KEY and
// VSLIDE_CURVE_CLIENT_KEY (see vslide/remote/remote_slide.h).
// Failure modes: NotFound (no such file or slide), InvalidArgument (not a
// slide), Unavailable (server unreachable), as the opened source reports them.
#pragma once

#include <memory>
#include <string>

#include "vslide/core/slide_source.h"

namespace vslide {

Result<std::unique_ptr<SlideSource>> open_slide(const std::string& path_or_url);

}  // namespace vslide
