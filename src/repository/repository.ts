import { PassThrough, pipeline as pipelineCb, type Readable } from "node:stream";
import { createOpenStream } from "../crypto/object-streams.js";
import { algorithmFromKey, createDecompressor } from "../pipeline/compress.js";
import { createHashCheck } from "../pipeline/hashing.js";
import type { Identity } from "../crypto/age-keys.js";
import { NotFoundError, StrongboxError } from "../errors.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import { MANIFEST_FLOOR_BYTES, MAX_COMPLETE_BYTES, parseComplete, type CompleteRecord } from "./complete.js";
import { BACKUPS, backupTime, DRILLS, idOfKey, isBackupId, keys, newestFirst } from "./layout.js";
import { readManifestStream, type Manifest } from "./manifest.js";
import { DEFAULT_CLOCK_SKEW_MS, judgeTime } from "../retention/plausible-time.js";
import { quoteName } from "../terminal-safe.js";

export interface BackupListing {
  id: string;
  time: Date;
  objects: ObjectInfo[];
  /** The validated commit marker; null for an incomplete or damaged backup. */
  complete: CompleteRecord | null;
  /** Why a backup that has a complete.json cannot be trusted (unreadable, corrupt or forged marker). */
  damaged?: string;
  /**
   * Why a backup with a valid complete.json must not be counted (absent or empty: trusted): its
   * claimed time disagrees with the store's (retention/plausible-time.ts), or its signature does not
   * hold. Every consumer treats it alike: never `latest`, never counted by retention, never deleted
   * by prune, flagged by list, doctor, /metrics and prune's notification.
   */
  untrusted?: string[];
  /** The store's own time for complete.json (S3 LastModified, file mtime): set by the server, not the writer. */
  serverTime?: Date;
}

export interface RepositoryOptions {
  /** How far a backup's claimed time may be from the store's time (retention.clock_skew). */
  clockSkewMs?: number;
  now?: () => Date;
}

/** Keys under backups/ that belong to no backup id (not a real UTC time): ignored, but counted. */
export interface IgnoredKeys {
  count: number;
  /** A few of them, quoted for printing. */
  sample: string[];
}

export async function readAll(stream: Readable, limit = 512 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      stream.destroy();
      throw new StrongboxError("VERIFY", `object larger than expected (> ${limit} bytes)`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Fails early (before keys or network are touched) on something that cannot name a backup. */
export function checkBackupRef(ref: string, extra: string[] = []): void {
  if (ref === "latest" || extra.includes(ref) || isBackupId(ref)) return;
  throw new StrongboxError("USAGE", `not a backup id: ${ref} (expected YYYYMMDDTHHMMSSZ-xxxxxx, 'latest'${extra.map((e) => ` or '${e}'`).join("")})`);
}

/** complete.json markers read at once by listBackups. */
const MARKER_READS = 8;

/** Read access to a strongbox/1 repository (needs List and Get: the reader role). */
export class Repository {
  /** What the last listBackups() skipped: keys under backups/ whose first part is not a backup id. */
  ignored: IgnoredKeys = { count: 0, sample: [] };

  constructor(
    readonly store: Store,
    readonly options: RepositoryOptions = {},
  ) {}

  /** Every backup id with its objects, newest first; `complete` is null for incomplete ones. */
  async listBackups(): Promise<BackupListing[]> {
    const byId = new Map<string, ObjectInfo[]>();
    const ignored: IgnoredKeys = { count: 0, sample: [] };
    for await (const o of this.store.list(BACKUPS)) {
      const id = idOfKey(o.key);
      if (!id) {
        ignored.count++;
        if (ignored.sample.length < 5) ignored.sample.push(quoteName(o.key.slice(0, 200)));
        continue;
      }
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id)!.push(o);
    }
    this.ignored = ignored;
    const now = (this.options.now ?? (() => new Date()))();
    const skew = this.options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    // Markers are read a few at a time: a repository of thousands of backups (or of thousands of
    // junk markers a forger wrote) is listed in bounded time, with at most this many in memory.
    const entries = [...byId];
    const out: BackupListing[] = new Array(entries.length);
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const i = next++;
        const [id, objects] = entries[i];
        out[i] = await this.listing(id, objects, now, skew);
      }
    };
    await Promise.all(Array.from({ length: Math.min(MARKER_READS, entries.length) }, worker));
    return out.sort(newestFirst);
  }

  private async listing(id: string, objects: ObjectInfo[], now: Date, skew: number): Promise<BackupListing> {
    const hasMarker = objects.some((o) => o.key === keys.complete(id));
    let complete: CompleteRecord | null = null;
    let damaged: string | undefined;
    if (hasMarker) {
      try {
        const rec = await this.readComplete(id);
        // The listing is at hand: an object complete.json promises but the store lacks (a write the
        // server acknowledged and lost) or of another size makes the backup damaged, not complete.
        const present = new Map(objects.map((o) => [o.key, o.size]));
        const absent = rec.objects.find((o) => present.get(o.key) !== o.size);
        if (absent) {
          const size = present.get(absent.key);
          throw new StrongboxError("VERIFY", `backup ${id}: object ${absent.key} ${size === undefined ? "is missing" : `has ${size} bytes, complete.json says ${absent.size}`}`);
        }
        complete = rec;
      } catch (err) {
        // One damaged backup must not hide the others: report it, go on with the rest.
        if (!(err instanceof StrongboxError) || err.code !== "VERIFY") throw err;
        damaged = err.message;
      }
    }
    // The store's time judges the claimed one: a future or back-dated claim is never counted.
    // (A kind can be waived per backup: `backdated` is also what a copied backup looks like.)
    const serverTime = objects.find((o) => o.key === keys.complete(id))?.lastModified;
    const untrusted: string[] = [];
    if (complete) for (const t of judgeTime(complete, serverTime, now, skew)) untrusted.push(t.reason);
    // started_at is validated against the id, so the time can only refine the id's own second.
    return {
      id,
      time: complete ? new Date(complete.started_at) : backupTime(id),
      objects,
      complete,
      ...(damaged ? { damaged } : {}),
      ...(serverTime ? { serverTime } : {}),
      ...(untrusted.length ? { untrusted } : {}),
    };
  }

  /** The newest drill result per backup id, from the newest `limit` reports under drills/. */
  async lastDrills(limit = 200): Promise<Map<string, { result: "pass" | "fail"; drill_id: string; at: string }>> {
    const keys: string[] = [];
    for await (const o of this.store.list(DRILLS)) if (o.key.endsWith(".json")) keys.push(o.key);
    keys.sort().reverse();
    const out = new Map<string, { result: "pass" | "fail"; drill_id: string; at: string }>();
    for (const key of keys.slice(0, limit)) {
      try {
        const r = JSON.parse((await readAll(await this.store.get(key), 4 * 1024 * 1024)).toString("utf8"));
        if (typeof r.backup_id === "string" && !out.has(r.backup_id) && (r.result === "pass" || r.result === "fail")) {
          out.set(r.backup_id, { result: r.result, drill_id: r.drill_id, at: r.finished_at });
        }
      } catch {
        // an unreadable report is not a reason to fail listing
      }
    }
    return out;
  }

  async readComplete(id: string): Promise<CompleteRecord> {
    const key = keys.complete(id);
    let body;
    try {
      body = await readAll(await this.store.get(key), MAX_COMPLETE_BYTES);
    } catch (err) {
      if (err instanceof NotFoundError) throw new StrongboxError("VERIFY", `backup ${id} is incomplete (no complete.json): it never finished, or is being written`);
      if (err instanceof StrongboxError && err.code === "VERIFY") throw new StrongboxError("VERIFY", `${key}: larger than a commit marker may be (> ${MAX_COMPLETE_BYTES} bytes; corrupt or forged)`);
      throw err;
    }
    return parseComplete(body, id);
  }

  /**
   * Resolves `latest` or an id to a complete backup. `latest` is the newest complete backup that
   * holds every source in `sources` (all backups qualify when none are named).
   */
  async resolve(ref: string, sources: string[] = []): Promise<CompleteRecord> {
    if (ref === "latest") {
      const all = await this.listBackups();
      const holds = (b: BackupListing) => b.complete && sources.every((n) => b.complete!.sources.some((s) => s.name === n));
      // An untrusted backup is never `latest`, however new it claims to be.
      const latest = all.find((b) => holds(b) && !b.untrusted?.length);
      if (!latest) {
        const what = sources.length ? `holding ${sources.join(", ")}` : "";
        const skipped = all.filter((b) => holds(b) && b.untrusted?.length).length;
        const why = skipped ? ` (${skipped} untrusted backup(s) skipped: see 'strongbox list')` : "";
        throw new StrongboxError("NOT_FOUND", `no ${skipped ? "trusted " : ""}complete backup ${what} in ${this.store.description}${why}`.replace("  ", " "));
      }
      return latest.complete!;
    }
    checkBackupRef(ref);
    try {
      return await this.readComplete(ref);
    } catch (err) {
      if (err instanceof StrongboxError && err.code === "VERIFY" && err.message.includes("incomplete")) {
        // Tell "never existed" apart from "never finished" when we may list.
        const any = await (async () => {
          for await (const _ of this.store.list(keys.dir(ref))) return true;
          return false;
        })().catch(() => true);
        if (!any) throw new StrongboxError("NOT_FOUND", `no backup ${ref} in ${this.store.description}`);
      }
      throw err;
    }
  }

  /** An object's stored bytes; the stream fails at its end unless size and SHA-256 match complete.json. */
  async getChecked(rec: CompleteRecord, key: string, onBytes?: (n: number) => void): Promise<Readable> {
    const expected = rec.objects.find((o) => o.key === key);
    if (!expected) throw new StrongboxError("VERIFY", `backup ${rec.id}: complete.json does not list ${key}`);
    const body = await this.fetch(rec, key);
    const check = createHashCheck(expected, onBytes);
    body.on("error", (err) => check.destroy(err));
    return body.pipe(check);
  }

  private async fetch(rec: CompleteRecord, key: string): Promise<Readable> {
    try {
      return await this.store.get(key);
    } catch (err) {
      if (err instanceof NotFoundError) throw new StrongboxError("VERIFY", `backup ${rec.id}: object ${key} is missing`);
      throw err;
    }
  }

  /**
   * An object's plaintext: stored bytes → size and SHA-256 check → age decryption. The stream
   * fails unless the whole object was read, matched complete.json and passed age authentication.
   * An age failure that looks like a wrong key ("no identity matches") is first checked against
   * the object's SHA-256: damaged bytes are a corrupt backup (VERIFY, exit 3), not a wrong key.
   */
  async openDecrypted(rec: CompleteRecord, key: string, identities: Identity[], onBytes?: (n: number) => void): Promise<Readable> {
    const expected = rec.objects.find((o) => o.key === key);
    if (!expected) throw new StrongboxError("VERIFY", `backup ${rec.id}: complete.json does not list ${key}`);
    const stored = await this.fetch(rec, key);
    const decrypt = createOpenStream(expected, identities, onBytes);
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    let finished = false;
    pipelineCb(stored, decrypt, (err) => {
      if (!err) return;
      void this.explainDecryptFailure(rec, key, err).then((e) => out.destroy(e as Error));
    });
    decrypt.pipe(out);
    out.on("end", () => (finished = true));
    // A consumer that gives up tears the fetch and the decryption down with it.
    out.on("close", () => {
      if (!finished) decrypt.destroy();
    });
    return out;
  }

  private async explainDecryptFailure(rec: CompleteRecord, key: string, err: unknown): Promise<unknown> {
    // A header that no longer parses ("age: malformed …") is damage too: name its cause, the hash.
    const fromAge = err instanceof StrongboxError && (err.code === "CRYPTO" || (err.code === "VERIFY" && err.message.startsWith("age:")));
    if (!fromAge) return err;
    try {
      await drain(await this.getChecked(rec, key));
    } catch (hashErr) {
      if (hashErr instanceof StrongboxError && hashErr.code === "VERIFY") return hashErr;
    }
    return err;
  }

  async readManifest(rec: CompleteRecord, identities: Identity[]): Promise<Manifest> {
    const object = rec.objects.find((o) => o.source === undefined);
    if (!object) throw new StrongboxError("VERIFY", `backup ${rec.id}: complete.json lists no manifest`);
    if (object.size > MAX_MANIFEST_BYTES) throw new StrongboxError("VERIFY", `${object.key}: ${object.size} bytes, more than a manifest may hold (${MAX_MANIFEST_BYTES})`);
    const limit = manifestLimit(object);
    const plain = await this.openDecrypted(rec, object.key, identities);
    const algorithm = algorithmFromKey(object.key);
    // The limit applies to the decompressed JSON: a small forged object must not inflate without bound.
    // pipeline: a decryption failure reaches the reader, and a reader that stops tears both down.
    const json = algorithm === "none" ? plain : (pipelineCb(plain, createDecompressor(algorithm), () => {}) as unknown as Readable);
    let seen = 0;
    const limited = async function* (): AsyncGenerator<Buffer> {
      try {
        for await (const c of json as AsyncIterable<Buffer>) {
          seen += c.length;
          if (seen > limit.bytes) throw new StrongboxError("VERIFY", `${object.key}: decompresses to more than ${limit.why} (${limit.bytes} bytes): corrupt or forged`);
          yield c;
        }
      } catch (err) {
        throw err instanceof StrongboxError ? err : new StrongboxError("VERIFY", `${object.key}: cannot decompress the manifest (${(err as Error).message})`);
      }
      if (object.manifest_bytes !== undefined && seen !== object.manifest_bytes) {
        throw new StrongboxError("VERIFY", `${object.key}: decompresses to ${seen} bytes, complete.json says ${object.manifest_bytes}: corrupt or forged`);
      }
    };
    try {
      return await readManifestStream(limited(), rec);
    } finally {
      plain.destroy();
      if (json !== plain) json.destroy();
    }
  }
}

/**
 * A manifest holds ~200 bytes per file: 16 GiB is eighty million files. It is read as a stream and
 * spooled (entry-spool.ts), so the bound is on temporary disk, not memory; it is the last resort.
 */
const MAX_MANIFEST_BYTES = 16 * 1024 ** 3;
/**
 * Backups of older versions do not record their manifest's size: it is bounded by its stored size.
 * Real manifests (paths and SHA-256 hex) shrink 3-10 times under zstd or gzip (20,000 files: 4.2 MB
 * → 0.8 MB); 64 times is far past that, and the 64 MiB floor (~300,000 files) covers small trees
 * whose manifests compress best. 2 GiB of whitespace in a 73 KB object stops at 64 MiB.
 */
const LEGACY_MANIFEST_RATIO = 64;

/** How much a backup's manifest may decompress to: what complete.json declares, or for older backups a multiple of its stored size. */
export function manifestLimit(object: { size: number; manifest_bytes?: number }): { bytes: number; why: string } {
  if (object.manifest_bytes !== undefined) return { bytes: Math.min(object.manifest_bytes, MAX_MANIFEST_BYTES), why: "complete.json declares" };
  const bytes = Math.min(Math.max(MANIFEST_FLOOR_BYTES, LEGACY_MANIFEST_RATIO * object.size), MAX_MANIFEST_BYTES);
  return { bytes, why: `a ${object.size}-byte manifest object may hold (max(64 MiB, ${LEGACY_MANIFEST_RATIO} × its size))` };
}

/** Reads a stream to its end, keeping nothing. */
export async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream as AsyncIterable<Buffer>);
}
