#!/usr/bin/env bash
# make demo: a simulated scan through the system, with output a person can look at.
set -euo pipefail
BUILD="${1:-build}"
VSLIDE="$BUILD/src/cli/vslide"
OUT="${DEMO_OUT:-demo-out}"
mkdir -p "$OUT"

echo "== vslide demo: writing into $OUT/"
echo
echo "== 1. a simulated scan (6 x 8 fields of 2560x2160, 3 colours) written as a virtual slide"
"$VSLIDE" simulate "$OUT/demo.h5" --rows 6 --cols 8 --channels 3 --name "demo slide" --seed 7
echo
echo "== 2. vslide info"
"$VSLIDE" info "$OUT/demo.h5"
echo
echo "== 3. vslide verify (every chunk against its checksum)"
"$VSLIDE" verify "$OUT/demo.h5"
echo
echo "== 4. one field of view as a 16-bit TIFF"
"$VSLIDE" export-tile "$OUT/demo.h5" --row 2 --col 3 --channel 0 --out "$OUT/tile_2_3_dapi.tif"
echo
echo "== done. Files in $OUT/: demo.h5 (the slide), demo.truth.json (ground truth), tile_2_3_dapi.tif"
