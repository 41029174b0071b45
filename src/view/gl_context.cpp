#include "vslide/view/gl_context.h"

#include <dlfcn.h>
#include <epoxy/egl.h>
#include <epoxy/gl.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace vslide::view {

namespace {

constexpr const char* kInstallHint =
    "install Mesa's EGL and llvmpipe (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) "
    "or the NVIDIA driver with its EGL library";

std::string egl_error_name(EGLint e) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "EGL error 0x%04x", unsigned(e));
  return buf;
}

// Initialises `dpy`; on success returns true (the caller terminates it on later failure).
bool init_display(EGLDisplay dpy) {
  if (dpy == EGL_NO_DISPLAY) return false;
  EGLint major = 0, minor = 0;
  return eglInitialize(dpy, &major, &minor) == EGL_TRUE;
}

EGLDisplay find_nvidia_device_display() {
  if (!epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_EXT_device_enumeration") &&
      !epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_EXT_device_base")) {
    return EGL_NO_DISPLAY;
  }
  EGLint count = 0;
  if (eglQueryDevicesEXT(0, nullptr, &count) != EGL_TRUE || count <= 0) return EGL_NO_DISPLAY;
  std::vector<EGLDeviceEXT> devices(static_cast<size_t>(count));
  if (eglQueryDevicesEXT(count, devices.data(), &count) != EGL_TRUE) return EGL_NO_DISPLAY;
  for (EGLint i = 0; i < count; ++i) {
    EGLDisplay dpy = eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, devices[size_t(i)], nullptr);
    if (!init_display(dpy)) continue;
    const char* vendor = eglQueryString(dpy, EGL_VENDOR);
    if (vendor != nullptr && std::strstr(vendor, "NVIDIA") != nullptr) return dpy;
    eglTerminate(dpy);
  }
  return EGL_NO_DISPLAY;
}

}  // namespace

Result<std::unique_ptr<GlContext>> GlContext::create() {
  // libepoxy aborts the process when libEGL cannot be loaded: check first.
  void* egl_lib = dlopen("libEGL.so.1", RTLD_LAZY | RTLD_GLOBAL);
  if (egl_lib == nullptr) {
    return Status::unavailable(std::string("no OpenGL: libEGL.so.1 not found; ") + kInstallHint);
  }
  const char* force = std::getenv("VSLIDE_EGL");
  const bool allow_device = !(force && std::strcmp(force, "mesa") == 0);
  const bool allow_mesa = !(force && std::strcmp(force, "device") == 0);

  std::unique_ptr<GlContext> ctx(new GlContext());
  EGLDisplay dpy = EGL_NO_DISPLAY;
  if (allow_device) {
    dpy = find_nvidia_device_display();
    if (dpy != EGL_NO_DISPLAY) ctx->platform_ = "device";
  }
  if (dpy == EGL_NO_DISPLAY && allow_mesa &&
      epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_MESA_platform_surfaceless")) {
    dpy = eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
    if (init_display(dpy)) {
      ctx->platform_ = "surfaceless-mesa";
    } else {
      dpy = EGL_NO_DISPLAY;
    }
  }
  if (dpy == EGL_NO_DISPLAY) {
    return Status::unavailable(
        "no OpenGL: no EGL display (neither an NVIDIA EGL device nor Mesa's surfaceless "
        "platform) could be initialised; " +
        std::string(kInstallHint));
  }
  ctx->display_ = dpy;  // from here the destructor terminates it

  if (eglBindAPI(EGL_OPENGL_API) != EGL_TRUE) {
    return Status::unavailable("no OpenGL: EGL cannot bind the desktop OpenGL API (" +
                               egl_error_name(eglGetError()) + "); " + kInstallHint);
  }
  const EGLint config_attribs[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
  EGLConfig config = nullptr;
  EGLint n = 0;
  if (eglChooseConfig(dpy, config_attribs, &config, 1, &n) != EGL_TRUE || n < 1) {
    // Surfaceless contexts need no config at all (EGL_KHR_no_config_context).
    config = EGL_NO_CONFIG_KHR;
  }
  for (EGLint minor : {6, 5, 3}) {
    const EGLint attribs[] = {EGL_CONTEXT_MAJOR_VERSION,
                              4,
                              EGL_CONTEXT_MINOR_VERSION,
                              minor,
                              EGL_CONTEXT_OPENGL_PROFILE_MASK,
                              EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                              EGL_NONE};
    EGLContext c = eglCreateContext(dpy, config, EGL_NO_CONTEXT, attribs);
    if (c != EGL_NO_CONTEXT) {
      ctx->context_ = c;
      break;
    }
  }
  if (ctx->context_ == nullptr) {
    return Status::unavailable("no OpenGL: could not create an OpenGL 4.3+ core context (" +
                               egl_error_name(eglGetError()) + "); " + kInstallHint);
  }
  VSLIDE_RETURN_IF_ERROR(ctx->make_current());
  const char* r = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
  const char* v = reinterpret_cast<const char*>(glGetString(GL_VERSION));
  ctx->renderer_ = r ? r : "?";
  ctx->version_ = v ? v : "?";
  return ctx;
}

Status GlContext::make_current() {
  if (eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, context_) != EGL_TRUE) {
    return Status::unavailable("EGL: cannot make the OpenGL context current (" +
                               egl_error_name(eglGetError()) + ")");
  }
  return Status();
}

GlContext::~GlContext() {
  if (display_ != nullptr) {
    eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    if (context_ != nullptr) eglDestroyContext(display_, context_);
    eglTerminate(display_);
  }
}

}  // namespace vslide::view
