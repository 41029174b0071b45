// A tile that failed to load: diagonal stripes 8 px wide alternating full
// and quarter intensity (placeholder_rgb in cpu_renderer.h). Drawn with
// tile.vert over the pixels the tile owns.
#version 430 core
uniform float u_height;
uniform vec3 u_color;
out vec4 frag_color;

void main() {
  int ix = int(gl_FragCoord.x), iy = int(u_height - gl_FragCoord.y);
  float k = ((ix + iy) / 8) % 2 == 0 ? 1.0 : 0.25;
  frag_color = vec4(u_color * k, 1.0);
}
