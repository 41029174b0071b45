// The command's name for vslide::open_slide (include/vslide/remote/open_slide.h),
// which the window and the Python module share.
#pragma once

#include "vslide/remote/open_slide.h"

namespace vslide::cli {

using vslide::open_slide;

}  // namespace vslide::cli
