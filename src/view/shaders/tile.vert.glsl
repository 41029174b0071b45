// Tiles are drawn instanced: instance i reads its quad and sampling
// parameters from the Tiles buffer, so one draw call covers every tile
// whose planes live in the same texture arrays.
#version 430 core
struct Tile {
  vec4 rect;     // quad in screen pixels (x0, y0, x1, y1), y down, grown by a pixel
  vec4 xform;    // origin x, origin y, texels per screen pixel, placeholder (0/1)
  ivec4 size;    // texture width, height
  ivec4 layers;  // array layer per channel slot; -1: no plane
};
layout(std430, binding = 0) readonly buffer Tiles { Tile tiles[]; };
uniform vec2 u_viewport;
// Per-tile values as flat varyings: read once per vertex, not per fragment.
flat out vec4 v_xform;
flat out ivec4 v_size;
flat out ivec4 v_layers;

void main() {
  vec4 r = tiles[gl_InstanceID].rect;
  float x = (gl_VertexID & 1) != 0 ? r.z : r.x;
  float y = (gl_VertexID & 2) != 0 ? r.w : r.y;
  v_xform = tiles[gl_InstanceID].xform;
  v_size = tiles[gl_InstanceID].size;
  v_layers = tiles[gl_InstanceID].layers;
  gl_Position = vec4(x / u_viewport.x * 2.0 - 1.0, 1.0 - y / u_viewport.y * 2.0, 0.0, 1.0);
}
