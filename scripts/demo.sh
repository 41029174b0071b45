#!/usr/bin/env bash
# make demo: a simulated scan through the whole system, with output a person can look at.
#   manager -> scan (simulated microscope -> slide proxy -> slide writer -> HDF5 + SQLite catalog)
#   -> catalog list, info, verify -> nuclei detection -> zoom layers -> rendered PNGs
set -euo pipefail
BUILD="${1:-build}"
VSLIDE="$BUILD/src/cli/vslide"
OUT="${DEMO_OUT:-demo-out}"
PORT="${DEMO_PORT:-5560}"
MANAGER="tcp://127.0.0.1:$PORT"
rm -rf "$OUT"
mkdir -p "$OUT/data"
CATALOG="sqlite://$(cd "$OUT" && pwd)/data/catalog.sqlite"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. start the slide manager on $MANAGER (data folder $OUT/data, SQLite catalog)"
"$VSLIDE" manager --bind "$MANAGER" --data-dir "$OUT/data" > "$OUT/manager.log" 2>&1 &
MANAGER_PID=$!
trap '"$VSLIDE" manager stop --manager "$MANAGER" > /dev/null 2>&1 || kill $MANAGER_PID 2> /dev/null || true' EXIT
for _ in $(seq 50); do
  "$VSLIDE" manager status --manager "$MANAGER" > /dev/null 2>&1 && break
  sleep 0.2
done
"$VSLIDE" manager status --manager "$MANAGER"

step "2. scan: the simulated microscope streams 6 x 8 fields x 3 colours of 2560x2160 through the pipeline"
"$VSLIDE" scan --manager "$MANAGER" --simulate --rows 6 --cols 8 --channels 3 --name "demo slide" --seed 7 \
  | tee "$OUT/scan.log"
SLIDE=$(awk '$1 == "slide" && $3 ~ /\.h5$/ { print $3 }' "$OUT/scan.log" | tail -1)
if [ -z "$SLIDE" ]; then echo "demo: the scan did not report a slide file" >&2; exit 1; fi

step "3. the slide database: vslide catalog list"
"$VSLIDE" catalog list --catalog "$CATALOG"

step "4. vslide info $SLIDE"
"$VSLIDE" info "$SLIDE"

step "5. vslide verify (every chunk against its checksum)"
"$VSLIDE" verify "$SLIDE"

step "6. register the fields from their overlaps and estimate the shading (raw planes untouched)"
"$VSLIDE" register "$SLIDE"
"$VSLIDE" flatfield "$SLIDE"

step "7. nuclei detection stored as a detection layer (objects in overlaps counted once)"
"$VSLIDE" detect "$SLIDE" --pipeline nuclei --channel 0 --name nuclei

step "8. zoom layers and overview (vslide pyramid)"
"$VSLIDE" pyramid "$SLIDE"

step "9. rendered views (registered positions)"
"$VSLIDE" render "$SLIDE" --out "$OUT/slide.png" --size 1600x1000 --fit --auto-contrast --stats
"$VSLIDE" render "$SLIDE" --out "$OUT/zoom.png" --size 1200x800 --center-um 2000,1500 --zoom 1 --auto-contrast \
  --overlay detections:nuclei --stats
"$VSLIDE" export-tile "$SLIDE" --row 2 --col 3 --channel 0 --out "$OUT/tile_2_3_dapi.tif"

step "done"
echo "slide file:     $SLIDE"
echo "catalog:        $CATALOG"
echo "whole slide:    $OUT/slide.png"
echo "zoomed region:  $OUT/zoom.png (nuclei outlined)"
echo "one raw field:  $OUT/tile_2_3_dapi.tif (16-bit)"
echo
echo "Open the slide in the viewer window (drag to pan, wheel to zoom, ? for the keys):"
echo "  $VSLIDE view $SLIDE"
