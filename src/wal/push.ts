import { createHash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import { basename } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import type { Config } from "../config/schema.js";
import { createEncryptStream } from "../crypto/age.js";
import type { SigningKey } from "../crypto/ssh-signature.js";
import { StrongboxError } from "../errors.js";
import { createCompressor, EXTENSION, parseCompression } from "../codecs/compress.js";
import type { Store } from "../stores/store.js";
import { describeSystemError, isSystemError } from "../system-error.js";
import { controlSystemId, LONG_HEADER_BYTES, MAX_SEGMENT, readSegmentHeader } from "./header.js";
import { parseWalName, walKey, type WalName } from "./names.js";
import { signWal } from "./signature.js";

/** A .history or .backup file is a few lines of text; anything larger is not one. */
export const MAX_TEXT_FILE = 1 << 20;

export interface PushResult {
  name: string;
  systemId: string;
  key: string;
  bytes: number;
  /** false: the same content was already stored (PostgreSQL retried after a lost answer). */
  stored: boolean;
}

/** What one pass over the file saw: its size, SHA-256 and first bytes. */
interface Scan {
  size: number;
  sha256: string;
  head: Buffer;
}

/** Hashes what flows through and keeps the first bytes (the page header), so the upload pass re-checks the file. */
class ScanStream extends Transform {
  private readonly hash = createHash("sha256");
  private readonly heads: Buffer[] = [];
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    if (this.size < LONG_HEADER_BYTES) this.heads.push(chunk.subarray(0, LONG_HEADER_BYTES - this.size));
    this.size += chunk.length;
    cb(null, chunk);
  }
  scan(): Scan {
    return { size: this.size, sha256: this.hash.digest("hex"), head: Buffer.concat(this.heads) };
  }
}

const readFailure = (path: string, err: unknown) =>
  isSystemError(err)
    ? new StrongboxError("SOURCE", describeSystemError(err, { path, doing: "reading" }), { cause: err })
    : err;

async function scanFile(path: string): Promise<Scan> {
  const s = new ScanStream();
  try {
    for await (const _ of createReadStream(path).pipe(s));
  } catch (err) {
    throw readFailure(path, err);
  }
  return s.scan();
}

/** The largest file a WAL file of this kind may be. */
const limitOf = (w: WalName) => (w.kind === "segment" || w.kind === "partial" ? MAX_SEGMENT : MAX_TEXT_FILE);

/** The cluster a file belongs to: a segment says so in its header; the others take it from pg_control in `dataDir`. */
async function systemIdOf(w: WalName, scan: Scan, path: string, o: PushOptions): Promise<string> {
  if (w.kind === "segment" || w.kind === "partial") {
    const h = readSegmentHeader(scan.head, w, path);
    if (w.kind === "segment" && scan.size !== h.segmentSize)
      throw new StrongboxError(
        "SOURCE",
        `${path}: ${scan.size} bytes, but its header says segments are ${h.segmentSize}`,
      );
    if (w.kind === "partial" && scan.size > h.segmentSize)
      throw new StrongboxError("SOURCE", `${path}: ${scan.size} bytes, larger than a segment (${h.segmentSize})`);
    if (o.systemId && o.systemId !== h.systemId)
      throw new StrongboxError("SOURCE", `${path}: system identifier ${h.systemId}, not ${o.systemId} (--system-id)`);
    return h.systemId;
  }
  return o.systemId ?? (await controlSystemId(o.dataDir ?? "."));
}

export interface PushOptions {
  /** The cluster's system identifier, for .history/.backup files (else read from pg_control in dataDir). */
  systemId?: string;
  /** The data directory (default: the working directory, where PostgreSQL runs archive_command). */
  dataDir?: string;
  /** The host's signing key: the key name then carries its signature over the file (wal/signature.ts). */
  signingKey?: SigningKey;
  signal?: AbortSignal;
}

/**
 * Archives one WAL file with the writer's powers only: one create-only put under a key that holds
 * the plaintext's SHA-256. "Already exists" is then the same bytes stored before: success.
 */
export async function pushWal(config: Config, store: Store, path: string, o: PushOptions = {}): Promise<PushResult> {
  const w = parseWalName(basename(path));
  if (!w)
    throw new StrongboxError(
      "USAGE",
      `${basename(path)}: not a WAL file name (segment, .partial, .backup or .history)`,
    );
  const st = await fsp.stat(path).catch((err: unknown) => {
    throw readFailure(path, err);
  });
  if (!st.isFile()) throw new StrongboxError("SOURCE", `${path}: not a regular file`);
  if (st.size > limitOf(w)) throw new StrongboxError("SOURCE", `${path}: ${st.size} bytes, too large for a ${w.kind}`);
  const first = await scanFile(path);
  const systemId = await systemIdOf(w, first, path, o);
  const compression = { ...parseCompression(config.compression), serial: true };
  const signature = o.signingKey ? signWal(o.signingKey, systemId, w, first.sha256) : undefined;
  const key = walKey(systemId, w, first.sha256, EXTENSION[compression.algorithm], signature);
  // The second pass is the one stored: it must be the bytes the key names (PostgreSQL does not change
  // a file it is archiving; anything else fails here, and PostgreSQL retries).
  const again = new ScanStream();
  const body = createReadStream(path);
  const compressor = createCompressor(compression);
  const sealed = body.pipe(again).pipe(compressor).pipe(createEncryptStream(config.encryption.recipients));
  // .pipe() does not pass errors on: the stream the store reads fails with any of them.
  for (const s of [body, again, compressor])
    s.on("error", (err: Error) => sealed.destroy(readFailure(path, err) as Error));
  let stored = true;
  try {
    await store.put(key, sealed, { signal: o.signal });
  } catch (err) {
    if (!isAlreadyStored(err)) throw err;
    stored = false;
  }
  if (stored) {
    const second = again.scan();
    if (second.sha256 !== first.sha256 || second.size !== first.size)
      throw new StrongboxError("SOURCE", `${path} changed while it was archived; stored under ${key}, not trusted`);
  }
  return { name: w.name, systemId, key, bytes: first.size, stored };
}

/** A create-only put that found its key taken (both stores say so in these words, stores/local-dir.ts and s3.ts). */
export function isAlreadyStored(err: unknown): boolean {
  return (
    err instanceof StrongboxError &&
    err.code === "STORE" &&
    /^object already exists, not overwriting: /.test(err.message)
  );
}

/**
 * The Object Lock retention WAL is stored with: a day more than the configured period. A base backup's
 * objects are locked until their upload + the period, and the WAL it needs is pushed from its start on,
 * possibly before its last object is uploaded: the day covers a backup's own run, so the WAL a locked
 * base needs is locked at least as long as the base (the same margin the base of a differential gets).
 */
export function walLockOptions(config: Config): { objectLockDays?: number } {
  const days = config.repository.s3?.object_lock_days ?? 0;
  return days > 0 ? { objectLockDays: days + 1 } : {};
}
