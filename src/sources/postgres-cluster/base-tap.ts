import { Transform } from "node:stream";

const BLOCK = 512;
/** What is kept of each file the tap watches: backup_label whole, pg_control's first bytes, the manifest's tail. */
const KEEP: Record<string, { head?: number; tail?: number }> = {
  backup_label: { head: 64 * 1024 },
  "global/pg_control": { head: 8 },
  backup_manifest: { tail: 64 * 1024 },
  PG_VERSION: { head: 16 },
};

export interface TapResult {
  /** Each watched file's kept bytes (absent: not in the archive). */
  files: Map<string, Buffer>;
  entries: number;
  bytes: number;
}

/** A size field: octal text, or GNU base-256 for large files. */
function headerSize(h: Buffer): number {
  if (h[124] & 0x80) {
    let n = 0;
    for (let i = 125; i < 136; i++) n = n * 256 + h[i];
    return n;
  }
  return parseInt(h.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8);
}

function headerName(h: Buffer): string {
  const field = (a: number, b: number) => h.subarray(a, b).toString("utf8").replace(/\0.*$/s, "");
  const name = field(0, 100);
  const prefix = h.subarray(257, 262).toString("latin1") === "ustar" ? field(345, 500) : "";
  return (prefix ? `${prefix}/${name}` : name).replace(/^\.\//, "");
}

/**
 * Passes pg_basebackup's tar through unchanged and reads, on the way, the few files the manifest
 * needs (backup_label, global/pg_control, the end of backup_manifest). Only this process's own
 * pg_basebackup output goes through it; restore reads archives with the hardened reader instead.
 * Memory: a block and the kept bytes.
 */
export function baseTap(): { stream: Transform; result: TapResult } {
  const result: TapResult = { files: new Map(), entries: 0, bytes: 0 };
  let header = Buffer.alloc(0);
  let left = 0; // body bytes of the current entry still to come
  let padding = 0;
  let keep: { name: string; head?: number; tail?: number } | undefined;
  let done = false;

  function body(chunk: Buffer): void {
    if (!keep) return;
    const had = result.files.get(keep.name) ?? Buffer.alloc(0);
    const next = Buffer.concat([had, chunk]);
    result.files.set(
      keep.name,
      keep.head !== undefined ? next.subarray(0, keep.head) : next.subarray(Math.max(0, next.length - keep.tail!)),
    );
  }

  function feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !done) {
      if (left > 0) {
        const n = Math.min(left, chunk.length - at);
        body(chunk.subarray(at, at + n));
        left -= n;
        at += n;
      } else if (padding > 0) {
        const n = Math.min(padding, chunk.length - at);
        padding -= n;
        at += n;
      } else {
        const n = Math.min(BLOCK - header.length, chunk.length - at);
        header = Buffer.concat([header, chunk.subarray(at, at + n)]);
        at += n;
        if (header.length < BLOCK) continue;
        const h = header;
        header = Buffer.alloc(0);
        if (h.every((b) => b === 0)) {
          done = true; // the end-of-archive marker: nothing more to watch
          break;
        }
        const size = headerSize(h);
        const name = headerName(h);
        const type = String.fromCharCode(h[156]);
        if (type === "0" || type === "\0") result.entries++;
        const k = type === "0" || type === "\0" ? KEEP[name] : undefined;
        keep = k ? { name, ...k } : undefined;
        if (keep) result.files.set(name, Buffer.alloc(0));
        left = size;
        padding = (BLOCK - (size % BLOCK)) % BLOCK;
      }
    }
  }

  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      result.bytes += chunk.length;
      feed(chunk);
      cb(null, chunk);
    },
  });
  return { stream, result };
}
