// The manifest side of a backup of a huge tree, without the file bytes: N synthetic entries (1,000
// files a directory, in tree order) go through the backup's own path (entry spool → manifest JSON
// → zstd → age → file:// store) and back through restore's (readManifest: decrypt, stream-parse,
// check, spool → match against the archive's entries in one pass). Prints one JSON line with the
// figures, peak RSS included. Used by test/e2e/scale-manifest.test.ts and `npm run bench` (scale).
//   node scripts/scale-manifest.mjs [entries]   (needs npm run build)
import "../dist/heap-tuning.js"; // as the CLI does, first
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { generateIdentity } from "../dist/crypto/age-keys.js";
import { createSealStream } from "../dist/crypto/object-streams.js";
import { createCompressor } from "../dist/codecs/compress.js";
import { storeStream } from "../dist/engine/backup.js";
import { EntrySpool } from "../dist/repository/entry-spool.js";
import { FORMAT, keys, newBackupId } from "../dist/repository/layout.js";
import { manifestJson } from "../dist/repository/manifest-write.js";
import { Repository } from "../dist/repository/repository.js";
import { TreeMatch } from "../dist/sources/tree-check.js";
import { LocalDirStore } from "../dist/stores/local-dir.js";

const N = Number(process.argv[2] ?? 2_000_000);
const PER_DIR = 1000;
const sha = (i) => i.toString(16).padStart(64, "0");
/** The tree in walk order: d0000, d0000/f0000000 … d0000/f0000999, d0001, … */
function* tree() {
  for (let i = 0; i < N; i++) {
    const d = `d${String(Math.floor(i / PER_DIR)).padStart(4, "0")}`;
    if (i % PER_DIR === 0) yield { path: d, type: "dir", size: 0, mode: 0o755, mtime: "1700000000" };
    yield {
      path: `${d}/f${String(i).padStart(7, "0")}`,
      type: "file",
      size: i % 4096,
      mode: 0o644,
      mtime: "1700000000.123456789",
      sha256: sha(i),
    };
  }
}

const dir = mkdtempSync(join(tmpdir(), "strongbox-scale-"));
try {
  const { identity, recipient } = generateIdentity();
  const store = new LocalDirStore(dir);
  const id = newBackupId(new Date());
  const t0 = performance.now();
  const entries = new EntrySpool();
  let files = 0;
  let bytes = 0;
  for (const e of tree()) {
    entries.push(e);
    if (e.type === "file") {
      files++;
      bytes += e.size;
    }
  }
  const objectKey = keys.object(id, "tree.tar.zst.age");
  const manifest = {
    format: FORMAT,
    id,
    created_at: new Date().toISOString(),
    host: hostname(),
    sources: { tree: { type: "files", path: "/srv/tree", object: objectKey, files, bytes, entries, warnings: [] } },
  };
  const manifestKey = keys.manifest(id, ".zst");
  const sealed = createSealStream([recipient]);
  await storeStream(store, manifestKey, [
    Readable.from(manifestJson(manifest), { highWaterMark: 1 }),
    createCompressor({ algorithm: "zstd", level: 1, serial: true }),
    sealed,
  ]);
  entries.close();
  const written = performance.now();
  const rec = {
    format: FORMAT,
    id,
    started_at: manifest.created_at,
    finished_at: new Date().toISOString(),
    host: manifest.host,
    tool_version: "scale",
    compression: "zstd",
    sources: [{ name: "tree", type: "files" }],
    objects: [
      { key: objectKey, size: 0, sha256: sha(0), source: "tree" },
      { key: manifestKey, size: sealed.stored.bytes, sha256: sealed.stored.sha256 },
    ],
    warnings: 0,
  };
  const read = await new Repository(store).readManifest(rec, [identity]);
  const parsed = performance.now();
  // What an archive of that tree yields, matched as restore and verify match it; then the same with
  // one file altered and one left out, which the match must report.
  const extracted = (skip) => {
    const m = new TreeMatch(read.sources.tree.entries);
    let i = 0;
    for (const e of tree()) {
      i++;
      if (skip && i === 1000) continue;
      m.see({ path: e.path, type: e.type, size: e.size, sha256: skip && i === 2000 ? sha(1) : e.sha256 });
    }
    return m.finish().counts;
  };
  const clean = extracted(false);
  const matched = performance.now();
  const damaged = extracted(true);
  read.sources.tree.entries.close();
  console.log(
    JSON.stringify({
      entries: read.sources.tree.entries.length,
      files: read.sources.tree.files,
      stored_bytes: sealed.stored.bytes,
      write_s: +((written - t0) / 1000).toFixed(2),
      read_s: +((parsed - written) / 1000).toFixed(2),
      match_s: +((matched - parsed) / 1000).toFixed(2),
      clean,
      damaged,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
