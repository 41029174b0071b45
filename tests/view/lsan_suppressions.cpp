// Under `make asan`, LeakSanitizer would report the allocations that Mesa
// (llvmpipe, its LLVM JIT, the EGL/GL dispatch libraries) keeps for the
// life of the process. They are not vslide's: suppress them by library.
// Outside sanitizer builds this function is never called.
extern "C" const char* __lsan_default_suppressions();
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libLLVM\n"
         "leak:libgallium\n"
         "leak:libEGL_mesa\n"
         "leak:libGLdispatch\n"
         "leak:libglapi\n"
         "leak:swrast_dri\n";
}
