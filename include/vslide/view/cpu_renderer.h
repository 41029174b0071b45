// The CPU reference renderer: the same FramePlan, the same float equations
// (display.h) and the same sampling rule (frame.h) as the GPU renderer, one
// pixel at a time. Tests compare GPU images against it (within one 8-bit
// step per component); it also renders where no GL is installed.
//
// Thread-safety: a free function of its arguments.
#pragma once

#include "vslide/view/frame.h"

namespace vslide::view {

// Renders `plan` into an RGB image of the viewport's size. InvalidArgument
// when the display settings or the viewport are invalid, or a draw's planes
// do not match the displayed channels.
Result<RgbImage> render_cpu(const FramePlan& plan);

// Shared by both renderers: the placeholder pattern colour at screen pixel
// (x, y): diagonal stripes 8 px wide alternating full and quarter intensity.
std::array<float, 3> placeholder_rgb(const OverlayStyle& style, int x, int y);

// Checks a plan before drawing (both renderers call it).
Status validate_plan(const FramePlan& plan);

}  // namespace vslide::view
