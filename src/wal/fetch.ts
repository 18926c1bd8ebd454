import { createHash } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Identity } from "../crypto/age-keys.js";
import type { TrustPolicy } from "../crypto/signing.js";
import { MAX_HEADER } from "../crypto/age.js";
import { createDecryptStream } from "../crypto/age.js";
import { NotFoundError, StrongboxError } from "../errors.js";
import { algorithmFromKey, createDecompressor } from "../codecs/compress.js";
import { tempName } from "../temp-names.js";
import { fsyncDir } from "../stores/local-dir.js";
import type { Store } from "../stores/store.js";
import { LONG_HEADER_BYTES, MAX_SEGMENT, readSegmentHeader } from "./header.js";
import { hex8, parseWalKey, parseWalName, walRoot, type ParsedWalKey, type WalName } from "./names.js";
import { MAX_TEXT_FILE } from "./push.js";
import { chooseWal, describeIgnored, distinctHashes, type IgnoredWal, type WalCandidate } from "./select.js";

/** The most plaintext one WAL file may hold. */
export const plaintextLimit = (w: WalName) =>
  w.kind === "segment" || w.kind === "partial" ? MAX_SEGMENT : MAX_TEXT_FILE;
/** The most a stored WAL object may take: its plaintext, zstd's worst case, age's tags and header. */
export const storedLimit = (w: WalName) => {
  const n = plaintextLimit(w);
  return n + Math.ceil(n / 64) + MAX_HEADER + 64 * 1024;
};

/** The most objects one WAL file name may have before fetch refuses it (a forger's flood, never PostgreSQL). */
export const MAX_OBJECTS_PER_NAME = 1000;

/**
 * The stored candidates for one WAL file name, and the objects under its prefix that are not keys
 * strongbox writes (ignored, and named). Bounded whatever a forger writes: without a trust policy the
 * listing stops at the second different file (fetch refuses two anyway); with one, every candidate must
 * be judged (a forged one may list first), so more than MAX_OBJECTS_PER_NAME objects is refused.
 */
export async function walCandidates(
  store: Store,
  systemId: string,
  w: WalName,
  policy?: TrustPolicy,
): Promise<{ candidates: WalCandidate[]; ignored: IgnoredWal[] }> {
  const prefix = `${walRoot(systemId)}${hex8(w.timeline)}/${w.name}.`;
  const candidates: WalCandidate[] = [];
  const ignored: IgnoredWal[] = [];
  let seen = 0;
  for await (const o of store.list(prefix)) {
    if (++seen > MAX_OBJECTS_PER_NAME)
      throw new StrongboxError(
        "VERIFY",
        `${prefix}*: more than ${MAX_OBJECTS_PER_NAME} objects under this WAL file name, refusing to judge them`,
      );
    const p = parseWalKey(o.key);
    if (!p) {
      ignored.push({ key: o.key, reason: "not a WAL key strongbox writes" });
      continue;
    }
    // The prefix also lists this segment's own .partial and .backup files: other WAL files, not candidates.
    if (p.wal.name !== w.name || p.systemId !== systemId) continue;
    candidates.push({ key: p, size: o.size, ...(o.lastModified ? { storedAt: o.lastModified } : {}) });
    if (!policy && distinctHashes(candidates) >= 2) break;
  }
  return { candidates, ignored };
}

/** Counts and hashes the plaintext, stops past the limit, keeps the page header. */
class Checked extends Transform {
  private readonly hash = createHash("sha256");
  private readonly heads: Buffer[] = [];
  size = 0;
  constructor(
    private limit: number,
    private readonly what: string,
    /** Given the page header once it has arrived: the most the file may hold by it (a segment's size). */
    private readonly byHeader?: (head: Buffer) => number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const before = this.size;
    if (this.size < LONG_HEADER_BYTES) this.heads.push(chunk.subarray(0, LONG_HEADER_BYTES - this.size));
    this.size += chunk.length;
    // The header is in: a segment stops at the size it gives (16 MiB by default), not at MAX_SEGMENT,
    // so a forged object that decompresses to 1 GiB is refused before it fills pg_wal.
    if (this.byHeader && before < LONG_HEADER_BYTES && this.size >= LONG_HEADER_BYTES) {
      try {
        this.limit = Math.min(this.limit, this.byHeader(this.head()));
      } catch (err) {
        return cb(err as Error);
      }
    }
    if (this.size > this.limit)
      return cb(new StrongboxError("VERIFY", `${this.what}: decompresses to more than ${this.limit} bytes`));
    this.hash.update(chunk);
    cb(null, chunk);
  }
  sha256 = () => this.hash.digest("hex");
  head = () => Buffer.concat(this.heads);
}

/** Checks a fetched file's plaintext against its key: hash, and for segments the page header and size. */
function checkPlaintext(c: ParsedWalKey, got: { sha256: string; size: number; head: Buffer }): void {
  if (got.sha256 !== c.sha256)
    throw new StrongboxError("VERIFY", `${c.key}: its content's SHA-256 is ${got.sha256}, not the one in its name`);
  const w = c.wal;
  if (w.kind !== "segment" && w.kind !== "partial") return;
  const h = readSegmentHeader(got.head, w, c.key);
  if (h.systemId !== c.systemId)
    throw new StrongboxError("VERIFY", `${c.key}: system identifier ${h.systemId} in its header, not ${c.systemId}`);
  if (w.kind === "segment" ? got.size !== h.segmentSize : got.size > h.segmentSize)
    throw new StrongboxError(
      "VERIFY",
      `${c.key}: ${got.size} bytes, but its header says segments are ${h.segmentSize}`,
    );
}

/** Decrypts and checks one stored WAL object into `sink` (a file, or nothing for verify); every byte is checked. */
export async function readWalObject(
  store: Store,
  c: ParsedWalKey,
  identities: Identity[],
  sink: NodeJS.WritableStream,
  signal?: AbortSignal,
): Promise<{ size: number }> {
  const w = c.wal;
  const checked = new Checked(
    plaintextLimit(w),
    c.key,
    w.kind === "segment" || w.kind === "partial" ? (head) => readSegmentHeader(head, w, c.key).segmentSize : undefined,
  );
  const body = await store.get(c.key, { signal });
  await pipeline(body, createDecryptStream(identities), createDecompressor(algorithmFromKey(c.key)), checked, sink, {
    signal,
  }).catch((err: unknown) => {
    if (err instanceof StrongboxError)
      throw new StrongboxError(
        err.code === "STORE" ? "STORE" : "VERIFY",
        err.message.includes(c.key) ? err.message : `${c.key}: ${err.message}`,
      );
    throw new StrongboxError("VERIFY", `${c.key}: ${(err as Error).message ?? String(err)}`);
  });
  checkPlaintext(c, { sha256: checked.sha256(), size: checked.size, head: checked.head() });
  return { size: checked.size };
}

/**
 * The stored object recovery takes for `name` (chooseWal): NOT_FOUND when none counts (the end of
 * recovery), VERIFY when it is doubled or too large. `ignored` names what did not count.
 */
export async function findWal(
  store: Store,
  systemId: string,
  name: string,
  policy?: TrustPolicy,
): Promise<{ key: ParsedWalKey; ignored: IgnoredWal[] }> {
  const w = parseWalName(name);
  if (!w) throw new StrongboxError("USAGE", `${JSON.stringify(name).slice(0, 80)}: not a WAL file name`);
  const listed = await walCandidates(store, systemId, w, policy);
  const choice = chooseWal(listed.candidates, policy);
  const ignored = [...listed.ignored, ...choice.ignored];
  const also = describeIgnored(ignored);
  const suffix = policy && also ? `; ${also}` : "";
  if (choice.kind === "missing")
    throw new NotFoundError(
      `${walRoot(systemId)}${hex8(w.timeline)}/${name} (WAL file ${name} is not archived${suffix})`,
    );
  if (choice.kind === "refused")
    throw new StrongboxError(
      "VERIFY",
      `${name}: ${choice.reason}${policy ? "" : " (the listing stops at the second)"}`,
    );
  const c = choice.chosen;
  if (c.size > storedLimit(w))
    throw new StrongboxError("VERIFY", `${c.key.key}: ${c.size} bytes, too large for a ${w.kind}: refusing it`);
  return { key: c.key, ignored };
}

/**
 * `restore_command`: writes the archived `name` to `dest` atomically (a temporary file beside it,
 * fsynced, checked, renamed, the directory fsynced), or nothing.
 */
export async function fetchWal(
  store: Store,
  identities: Identity[],
  systemId: string,
  name: string,
  dest: string,
  signal?: AbortSignal,
  policy?: TrustPolicy,
): Promise<{ key: string; size: number; ignored: IgnoredWal[] }> {
  const { key: c, ignored } = await findWal(store, systemId, name, policy);
  const tmp = join(dirname(dest), tempName(`.${basename(dest)}.strongbox-`));
  try {
    const { size } = await readWalObject(
      store,
      c,
      identities,
      createWriteStream(tmp, { flags: "wx", mode: 0o600 }),
      signal,
    );
    const fh = await fsp.open(tmp, "r+");
    await fh.sync().finally(() => fh.close());
    await fsp.rename(tmp, dest);
    await fsyncDir(dirname(dest));
    return { key: c.key, size, ignored };
  } catch (err) {
    await fsp.unlink(tmp).catch(() => {});
    throw err;
  }
}
