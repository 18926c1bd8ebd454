import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDecryptStream } from "../crypto/age.js";
import { createHashCheck } from "../pipeline/hashing.js";
import type { Identity } from "../crypto/age-keys.js";
import { NotFoundError, StrongboxError } from "../errors.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import { parseComplete, type CompleteRecord } from "./complete.js";
import { BACKUPS, backupTime, DRILLS, idOfKey, isBackupId, keys, newestFirst } from "./layout.js";
import { validateManifest, type Manifest } from "./manifest.js";

export interface BackupListing {
  id: string;
  time: Date;
  objects: ObjectInfo[];
  complete: CompleteRecord | null;
  /** Why its complete.json could not be trusted (unreadable, malformed or forged), if so. */
  damaged?: string;
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

/** Read access to a strongbox/1 repository (needs List and Get: the reader role). */
export class Repository {
  constructor(readonly store: Store) {}

  /** Every backup id with its objects, newest first; `complete` is null for incomplete ones. */
  async listBackups(): Promise<BackupListing[]> {
    const byId = new Map<string, ObjectInfo[]>();
    for await (const o of this.store.list(BACKUPS)) {
      const id = idOfKey(o.key);
      if (!id) continue;
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id)!.push(o);
    }
    const out: BackupListing[] = [];
    for (const [id, objects] of byId) {
      const hasMarker = objects.some((o) => o.key === keys.complete(id));
      let complete: CompleteRecord | null = null;
      let damaged: string | undefined;
      if (hasMarker) {
        try {
          complete = await this.readComplete(id);
        } catch (err) {
          // One damaged marker must not hide the other backups: report it, and go on.
          if (!(err instanceof StrongboxError) || err.code !== "VERIFY") throw err;
          damaged = err.message;
        }
      }
      // started_at is validated to lie within the id's second, so it can only refine the order.
      out.push({ id, time: complete ? new Date(complete.started_at) : backupTime(id), objects, complete, ...(damaged ? { damaged } : {}) });
    }
    return out.sort(newestFirst);
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
      body = await readAll(await this.store.get(key), 64 * 1024 * 1024);
    } catch (err) {
      if (err instanceof NotFoundError) throw new StrongboxError("VERIFY", `backup ${id} is incomplete (no complete.json): it never finished, or is being written`);
      throw err;
    }
    return parseComplete(body.toString("utf8"), key, id);
  }

  /** Resolves `latest` or an id to a complete backup. */
  async resolve(ref: string, withSources: string[] = []): Promise<CompleteRecord> {
    if (ref === "latest") {
      const has = (rec: CompleteRecord) => withSources.every((n) => rec.sources.some((s) => s.name === n));
      const latest = (await this.listBackups()).find((b) => b.complete && has(b.complete));
      const which = withSources.length ? ` with source ${withSources.join(", ")}` : "";
      if (!latest) throw new StrongboxError("NOT_FOUND", `no complete backup${which} in ${this.store.description}`);
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
    let body: Readable;
    try {
      body = await this.store.get(key);
    } catch (err) {
      if (err instanceof NotFoundError) throw new StrongboxError("VERIFY", `backup ${rec.id}: object ${key} is missing`);
      throw err;
    }
    const check = createHashCheck(expected, onBytes);
    body.on("error", (err) => check.destroy(err));
    return body.pipe(check);
  }

  /**
   * Why reading an object failed. A decrypt failure ("no identity matches", a bad header MAC) may be
   * damage rather than a wrong key: the object is hashed whole again, and a mismatch is the cause.
   * Only failures pay for the second read; no temporary file is needed.
   */
  async explainFailure(rec: CompleteRecord, key: string, err: unknown): Promise<unknown> {
    if (err instanceof StrongboxError && err.code === "VERIFY" && /SHA-256 mismatch|complete\.json (says|does not list)|larger than recorded|is missing/.test(err.message)) return err;
    try {
      await pipeline(await this.getChecked(rec, key), async function (src: AsyncIterable<Buffer>) {
        for await (const _ of src);
      });
    } catch (hashErr) {
      if (hashErr instanceof StrongboxError && hashErr.code === "VERIFY") return hashErr;
    }
    return err;
  }

  async readManifest(rec: CompleteRecord, identities: Identity[]): Promise<Manifest> {
    const key = keys.manifest(rec.id);
    const chunks: Buffer[] = [];
    try {
      await pipeline(await this.getChecked(rec, key), createDecryptStream(identities), async function (src: AsyncIterable<Buffer>) {
        for await (const c of src) chunks.push(c);
      });
    } catch (err) {
      throw await this.explainFailure(rec, key, err);
    }
    let m: unknown;
    try {
      m = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new StrongboxError("VERIFY", `${key}: decrypted manifest is not JSON`);
    }
    return validateManifest(m, rec, key);
  }
}
