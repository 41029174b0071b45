// GlContext: a headless OpenGL 4.x core context through EGL (no window, no
// X server), loaded with libepoxy.
//
// Device choice: EGL device enumeration (eglQueryDevicesEXT) and
// EGL_PLATFORM_DEVICE_EXT, preferring an NVIDIA device; where only Mesa is
// found (llvmpipe, CI) it falls back to EGL_PLATFORM_SURFACELESS_MESA. The
// environment variable VSLIDE_EGL=mesa|device forces one path.
//
// Failure modes: Unavailable with a message saying what to install when
// libEGL is absent, no display initialises, or no 4.3+ core context can be
// made. Thread-safety: the context is made current on the creating thread;
// use it (and every GL object made with it) from that thread only.
#pragma once

#include <memory>
#include <string>

#include "vslide/core/status.h"

namespace vslide::view {

class GlContext {
 public:
  static Result<std::unique_ptr<GlContext>> create();
  ~GlContext();
  GlContext(const GlContext&) = delete;
  GlContext& operator=(const GlContext&) = delete;

  // Makes the context current on the calling thread.
  Status make_current();
  // "NVIDIA H200/PCIe/SSE2", "llvmpipe (LLVM 15.0.6, 256 bits)".
  const std::string& renderer() const { return renderer_; }
  const std::string& version() const { return version_; }
  // "device" or "surfaceless-mesa".
  const std::string& platform() const { return platform_; }

 private:
  GlContext() = default;
  void* display_ = nullptr;
  void* context_ = nullptr;
  std::string renderer_, version_, platform_;
};

}  // namespace vslide::view
