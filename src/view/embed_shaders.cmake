# Turns src/view/shaders/*.glsl into one header of string literals:
#   cmake -DOUT=shaders.h -DSHADERS="a.glsl|b.glsl" -P embed_shaders.cmake
# Each file NAME.KIND.glsl becomes `constexpr const char* kNameKindShader`.
set(text "// Generated from src/view/shaders/*.glsl by embed_shaders.cmake. Do not edit.\n#pragma once\n\nnamespace vslide::view::shaders {\n\n")
string(REPLACE "|" ";" SHADERS "${SHADERS}")
foreach(f IN LISTS SHADERS)
  get_filename_component(name "${f}" NAME)
  string(REPLACE ".glsl" "" name "${name}")
  string(REPLACE "." "_" name "${name}")
  file(READ "${f}" body)
  string(APPEND text "inline constexpr const char* k_${name} = R\"vslide_glsl(${body})vslide_glsl\";\n\n")
endforeach()
string(APPEND text "}  // namespace vslide::view::shaders\n")
file(WRITE "${OUT}.tmp" "${text}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
