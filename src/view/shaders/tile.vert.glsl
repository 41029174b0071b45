// Tiles are drawn instanced: instance u_first + i reads its rectangle and
// sampling parameters from the Tiles buffer, so one draw call covers every
// piece of every tile whose channels live in the same texture array. Each
// rectangle is a block of whole screen pixels the tile owns (see
// vslide/view/frame_partition.h): the rasteriser shades exactly those.
#version 430 core
struct Tile {
  vec4 rect;   // x0, y0, x1, y1 in screen pixels, y down, on pixel edges
  vec4 xform;  // origin x, origin y, texels per screen pixel, 2^-level for a tile (0: overview)
  ivec4 info;  // texture width, height, array layer, mask of channels present
};
layout(std430, binding = 0) readonly buffer Tiles { Tile tiles[]; };
uniform vec2 u_viewport;
uniform int u_first;
// Per-tile values as flat varyings: read once per vertex, not per fragment.
flat out vec4 v_xform;
flat out ivec4 v_info;
flat out vec4 v_present;

void main() {
  Tile t = tiles[u_first + gl_InstanceID];
  float x = (gl_VertexID & 1) != 0 ? t.rect.z : t.rect.x;
  float y = (gl_VertexID & 2) != 0 ? t.rect.w : t.rect.y;
  v_xform = t.xform;
  v_info = t.info;
  v_present = vec4(notEqual(ivec4(t.info.w) & ivec4(1, 2, 4, 8), ivec4(0)));
  gl_Position = vec4(x / u_viewport.x * 2.0 - 1.0, 1.0 - y / u_viewport.y * 2.0, 0.0, 1.0);
}
