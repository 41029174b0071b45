// Clamps the multi-pass channel sum (float target) into the 8-bit frame.
#version 430 core
uniform sampler2D u_accum;
out vec4 frag_color;

void main() {
  vec3 rgb = texelFetch(u_accum, ivec2(gl_FragCoord.xy), 0).rgb;
  frag_color = vec4(clamp(rgb, 0.0, 1.0), 1.0);
}
