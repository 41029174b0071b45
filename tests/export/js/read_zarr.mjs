// Reads an OME-Zarr 0.5 image with zarrita (an independent Zarr v3 reader)
// and dumps what it decoded for tests/export/check_export.py:
//   OUTDIR/meta.json  the group attributes and each level's shape/dtype
//   OUTDIR/<path>.u16 each level's whole array, C order, little-endian uint16
// Usage: node read_zarr.mjs IMAGE.ome.zarr OUTDIR
import * as fs from "node:fs";
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";

const [root, outdir] = process.argv.slice(2);
if (!root || !outdir) {
  console.error("usage: node read_zarr.mjs IMAGE.ome.zarr OUTDIR");
  process.exit(2);
}
const store = new FileSystemStore(root);
const group = await zarr.open.v3(zarr.root(store), { kind: "group" });
const attrs = group.attrs;
const meta = { attrs, levels: [] };
fs.mkdirSync(outdir, { recursive: true });
for (const ds of attrs.ome.multiscales[0].datasets) {
  const arr = await zarr.open.v3(zarr.root(store).resolve(ds.path), { kind: "array" });
  const chunk = await zarr.get(arr, null);
  const d = chunk.data;
  fs.writeFileSync(`${outdir}/${ds.path}.u16`, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  meta.levels.push({ path: ds.path, shape: chunk.shape, stride: chunk.stride, dtype: arr.dtype });
}
fs.writeFileSync(`${outdir}/meta.json`, JSON.stringify(meta, null, 1));
console.log(`zarrita read ${meta.levels.length} levels of ${root}`);
