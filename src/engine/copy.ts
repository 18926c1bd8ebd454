import { createHash } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { NotFoundError, StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { formatBytes } from "../progress.js";
import { MAX_COMPLETE_BYTES, parseComplete, type CompleteRecord } from "../repository/complete.js";
import { BACKUPS, idOfKey, keys } from "../repository/layout.js";
import { drain, readAll, type BackupListing, type Repository } from "../repository/repository.js";
import type { Store } from "../stores/store.js";
import { storeStream } from "./backup.js";

/** Where a copy goes. */
export interface CopyDestination {
  description: string;
  /** The repository however its URL is spelled (lock.ts's repositoryIdentity): never the source's. */
  identity: string;
  writer: Store;
  /** Where the destination can be listed (file://, or a config with reader credentials): to skip what is there. */
  reader?: Repository;
}

/** What a copy did, backup by backup (the command prints it, --json as it is). */
export interface CopyResult {
  to: string;
  copied: { id: string; objects: number; bytes: number; already?: number; unchecked?: number }[];
  skipped: { id: string; why: string }[];
  failed: { id: string; why: string }[];
  leftovers_removed: { count: number; bytes: number };
}

/** What became of one backup: copied (objects, bytes; those already there, checked or not), or skipped. */
type Done = { objects: number; bytes: number; already?: number; unchecked?: number } | "skipped";

const exists = (err: unknown) => err instanceof StrongboxError && /already exists, not overwriting/.test(err.message);
const isVerify = (err: unknown): err is StrongboxError => err instanceof StrongboxError && err.code === "VERIFY";

/**
 * 3-2-1: copies complete backups byte for byte to a second repository. Every object is streamed from
 * the source through its size and SHA-256 check (complete.json's) into the destination, which keeps it
 * only if the check passed; complete.json, byte-identical, goes last. A differential's base is copied
 * first.
 *
 * What the destination already holds is checked before anything is called copied. Where the
 * destination can be read (file://, or a --to config with reader credentials): a complete.json
 * there must be byte for byte the source's (else exit 3), and the backup is skipped once every
 * object it lists is there at its size; without complete.json, each object already there is read
 * and must match the source's complete.json (size and SHA-256, else exit 3, and nothing is
 * committed), and only the missing ones are copied. Where it cannot be read (writer role only),
 * nothing there can be checked: a backup with some of its objects already there is refused
 * (exit 3: give the --to config reader credentials); with all of them there, the destination's
 * refusal to overwrite complete.json tells a finished copy (skipped) from one that stopped just
 * before it (committed, and said to be unchecked).
 *
 * A damaged source backup (or one whose base is damaged) is reported in `result.failed` and the
 * others are still copied; the summary then says so and `failed` is true.
 */
export async function copyBackups(o: {
  source: Repository;
  dest: CopyDestination;
  ref: string;
  /** The configured sources: `latest` copies the restore point of each (the backups `restore latest` reads). */
  sources: string[];
  log: Logger;
  signal?: AbortSignal;
  result: CopyResult;
}): Promise<{ summary: string; failed: boolean }> {
  const copier = new Copier(o.source, o.dest, o.log, o.signal, o.result);
  await copier.run(o.ref, o.sources);
  const r = o.result;
  const total = r.copied.reduce((n, c) => n + c.bytes, 0);
  const summary = `copy to ${o.dest.description}: ${r.copied.length} copied (${formatBytes(total)}), ${r.skipped.length} already there`;
  if (r.failed.length)
    return {
      summary: `${summary}, ${r.failed.length} NOT copied (${r.failed.map((f) => f.id).join(", ")})`,
      failed: true,
    };
  return { summary, failed: false };
}

class Copier {
  private readonly failed = new Map<string, string>();
  /** complete.json of each backup to copy, bases before the differentials that need them. */
  private readonly records = new Map<string, { rec: CompleteRecord; raw: Buffer }>();
  private readonly order: string[] = [];
  private listing: BackupListing[] = [];

  constructor(
    private readonly source: Repository,
    private readonly dest: CopyDestination,
    private readonly log: Logger,
    private readonly signal: AbortSignal | undefined,
    private readonly result: CopyResult,
  ) {}

  private fail(id: string, why: string): void {
    if (this.failed.has(id)) return;
    this.failed.set(id, why);
    this.result.failed.push({ id, why });
    this.log.error(`not copied: ${id}: ${why}`, { id, to: this.dest.description });
  }

  async run(ref: string, sources: string[]): Promise<void> {
    const listing = (this.listing = await this.source.listBackups());
    // copy all: a damaged or untrusted backup is reported, and the others are copied.
    if (ref === "all") {
      for (const b of [...listing].reverse()) {
        if (b.damaged) this.fail(b.id, b.damaged);
        else if (b.untrusted?.length) this.fail(b.id, `untrusted: ${b.untrusted.join("; ")}`);
      }
    }
    const trust = { warn: (m: string) => this.log.warn(m) };
    const wanted =
      ref === "all"
        ? listing
            .filter((b) => b.complete && !b.untrusted?.length)
            .map((b) => b.id)
            .reverse()
        : ref === "latest"
          ? await this.restorePoint(sources)
          : [(await this.source.resolve(ref, [], trust)).id];
    for (const id of wanted) await this.add(id);
    const held = this.dest.reader ? await objectsByBackup(this.dest.reader.store) : undefined;
    for (const id of this.order) await this.copyOne(id, held);
  }

  /**
   * `latest`: every source's newest restorable backup, oldest first (one backup may hold only some
   * sources). A source with none is a failure of this copy (exit 3), and the others are still copied:
   * an offsite copy matters most when something is wrong.
   */
  private async restorePoint(sources: string[]): Promise<string[]> {
    const ids = new Set<string>();
    for (const name of sources) {
      try {
        const point = await this.source.restorePoint([name], undefined, { warn: (m) => this.log.warn(m) });
        for (const p of point.picks) ids.add(p.backup.id);
      } catch (err) {
        if (!(err instanceof StrongboxError) || err.code !== "NOT_FOUND") throw err;
        this.fail(`(${name})`, err.message);
      }
    }
    return [...ids].sort();
  }

  /** Queues a backup (its bases first): false when it, or a base, cannot be copied. */
  private async add(id: string): Promise<boolean> {
    if (this.failed.has(id)) return false;
    if (this.records.has(id)) return true;
    // What the listing judged: a base pulled in by a differential is judged like the backup named.
    const judged = this.listing.find((b) => b.id === id);
    if (judged?.damaged) {
      this.fail(id, judged.damaged);
      return false;
    }
    if (judged?.untrusted?.length) {
      this.fail(id, `untrusted: ${judged.untrusted.join("; ")}`);
      return false;
    }
    const got = await this.readComplete(id, judged?.completeSha256);
    if (!got) return false;
    this.records.set(id, got);
    for (const base of new Set(got.rec.objects.flatMap((x) => (x.base ? [x.base] : [])))) {
      if (!(await this.add(base))) {
        this.fail(id, `its base ${base} cannot be copied`);
        return false;
      }
    }
    this.order.push(id);
    return true;
  }

  /** complete.json as listed and judged, or undefined (the backup is failed) when it is not. */
  private async readComplete(
    id: string,
    judgedSha256: string | undefined,
  ): Promise<{ rec: CompleteRecord; raw: Buffer } | undefined> {
    try {
      const raw = await readAll(await this.source.store.get(keys.complete(id)), MAX_COMPLETE_BYTES);
      // The bytes copied must be the bytes judged (a writer may overwrite complete.json in between).
      if (judgedSha256 && createHash("sha256").update(raw).digest("hex") !== judgedSha256) {
        this.fail(id, `backups/${id}/complete.json changed after it was listed and judged: not copied (list it again)`);
        return undefined;
      }
      return { rec: parseComplete(raw, id), raw };
    } catch (err) {
      // A base the source no longer holds (pruned, or lost) fails only the differentials on it.
      if (err instanceof NotFoundError) {
        this.fail(id, `backup ${id} is not in the source repository (no complete.json)`);
        return undefined;
      }
      if (!isVerify(err)) throw err;
      this.fail(id, err.message);
      return undefined;
    }
  }

  private async copyOne(id: string, held: Map<string, Map<string, number>> | undefined): Promise<void> {
    const { rec, raw } = this.records.get(id)!;
    const lost = rec.objects.find((x) => x.base && this.failed.has(x.base));
    if (lost) {
      this.fail(id, `its base ${lost.base} was not copied`);
      return;
    }
    try {
      const done = held ? await this.copyChecked(rec, raw, held.get(id) ?? new Map()) : await this.copyBlind(rec, raw);
      if (done === "skipped") {
        this.result.skipped.push({ id, why: "already in the destination" });
        return;
      }
      this.result.copied.push({ id, ...done });
      this.log.info(`copied ${id}`, { ...done, to: this.dest.description });
      if (done.unchecked)
        this.log.warn(
          `${id}: ${done.unchecked} of its objects were already in ${this.dest.description} and could not be checked (the --to config has no reader credentials): run verify there`,
        );
    } catch (err) {
      if (!isVerify(err)) throw err;
      this.fail(id, err.message);
    }
  }

  /** One object from the source, through its check, into the destination. */
  private async copyObject(rec: CompleteRecord, key: string): Promise<void> {
    await storeStream(
      this.dest.writer,
      key,
      [await this.source.getChecked(rec, key), new PassThrough({ highWaterMark: 1024 * 1024 })],
      this.signal,
    );
  }

  /** complete.json (and its signature) written: how many objects that was, or 0 when the destination already had a complete.json. */
  private async commit(rec: CompleteRecord, raw: Buffer): Promise<number> {
    // The signature before complete.json, as a backup writes them (none for an unsigned backup).
    const sig = await this.source.readSignature(rec.id);
    if (sig) {
      try {
        await this.dest.writer.put(keys.completeSig(rec.id), Readable.from([sig]), { signal: this.signal });
      } catch (err) {
        if (!exists(err)) throw err;
      }
    }
    try {
      await this.dest.writer.put(keys.complete(rec.id), Readable.from([raw]), { signal: this.signal });
      return sig ? 2 : 1;
    } catch (err) {
      if (!exists(err)) throw err;
      return 0;
    }
  }

  /** A readable destination: what it holds of this backup is checked, the rest copied. */
  private async copyChecked(rec: CompleteRecord, raw: Buffer, there: Map<string, number>): Promise<Done> {
    const id = rec.id;
    const markerThere = there.has(keys.complete(id));
    if (markerThere) await this.sameComplete(id, raw);
    let bytes = 0;
    let already = 0;
    for (const obj of rec.objects) {
      const size = there.get(obj.key);
      if (size !== undefined) {
        if (size !== obj.size)
          throw new StrongboxError(
            "VERIFY",
            `the destination already holds ${obj.key} with ${size} bytes, complete.json says ${obj.size}: not copied (remove the partial backup ${id} there, or check it)`,
          );
        // With complete.json there too, sizes are what a listing checks; without it, every byte is.
        if (!markerThere) await this.checkThere(rec, obj.key);
        already++;
        continue;
      }
      await this.copyObject(rec, obj.key);
      bytes += obj.size;
    }
    // A destination that lost (or never got) the signature holds an untrusted copy: complete it.
    const sigAdded = markerThere ? await this.completeSignature(id, there) : 0;
    if (markerThere && already === rec.objects.length)
      return sigAdded ? { objects: 1, bytes: sigAdded, already } : "skipped";
    const committed = markerThere ? 0 : await this.commit(rec, raw);
    if (!markerThere && !committed)
      throw new StrongboxError(
        "VERIFY",
        `complete.json of ${id} appeared in the destination during the copy: check it (verify ${id} there)`,
      );
    return {
      objects: rec.objects.length + committed + (sigAdded ? 1 : 0),
      bytes: bytes + sigAdded,
      ...(already ? { already } : {}),
    };
  }

  /** The source's signature, copied where the destination has complete.json but not it: its size, or 0. */
  private async completeSignature(id: string, there: Map<string, number>): Promise<number> {
    if (there.has(keys.completeSig(id))) return 0;
    const sig = await this.source.readSignature(id);
    if (!sig) return 0;
    await this.dest.writer.put(keys.completeSig(id), Readable.from([sig]), { signal: this.signal }).catch((err) => {
      if (!exists(err)) throw err;
    });
    return sig.length;
  }

  /** The destination's complete.json of `id` must be byte for byte the source's. */
  private async sameComplete(id: string, raw: Buffer): Promise<void> {
    const theirs = await readAll(await this.dest.reader!.store.get(keys.complete(id)), MAX_COMPLETE_BYTES).catch(
      (err) => {
        throw isVerify(err)
          ? new StrongboxError(
              "VERIFY",
              `the destination holds another complete.json for ${id} (larger than any): not copied`,
            )
          : err;
      },
    );
    if (!theirs.equals(raw))
      throw new StrongboxError(
        "VERIFY",
        `the destination holds another complete.json for ${id} than the source's: not copied (check the destination: verify ${id})`,
      );
  }

  /** An object already in the destination (without its complete.json) must be this backup's, byte for byte. */
  private async checkThere(rec: CompleteRecord, key: string): Promise<void> {
    await drain(await this.dest.reader!.getChecked(rec, key)).catch((err) => {
      if (!isVerify(err)) throw err;
      const why = err.message.replace(`${key}: `, "").replace(/ \((stored object is )?corrupt\)$/, "");
      throw new StrongboxError(
        "VERIFY",
        `the destination already holds ${key}, and it is not this backup's object (${why}): not copied (remove the partial backup ${rec.id} there, or check it)`,
      );
    });
  }

  /** A destination that cannot be read (writer role only): its refusals to overwrite are all it says. */
  private async copyBlind(rec: CompleteRecord, raw: Buffer): Promise<Done> {
    let bytes = 0;
    const there: string[] = [];
    for (const obj of rec.objects) {
      try {
        await this.copyObject(rec, obj.key);
        bytes += obj.size;
      } catch (err) {
        if (!exists(err)) throw err;
        there.push(obj.key);
      }
    }
    if (there.length && there.length < rec.objects.length) {
      throw new StrongboxError(
        "VERIFY",
        `the destination already holds ${there.length} of the ${rec.objects.length} objects of ${rec.id} (${there[0]}${there.length > 1 ? ", …" : ""}), which the --to config cannot read to check: not committed. Add the destination's reader credentials to it (copy then checks them by SHA-256 and completes the backup), or remove the partial backup there`,
      );
    }
    const committed = await this.commit(rec, raw);
    if (!committed) {
      if (!there.length)
        throw new StrongboxError(
          "VERIFY",
          `the destination already holds a complete.json for ${rec.id} but none of its objects: not copied (check the destination)`,
        );
      return "skipped";
    }
    return {
      objects: rec.objects.length + committed,
      bytes,
      ...(there.length ? { already: there.length, unchecked: there.length } : {}),
    };
  }
}

/** The destination's objects, by backup id: key → size. */
async function objectsByBackup(store: Store): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for await (const o of store.list(BACKUPS)) {
    const id = idOfKey(o.key);
    if (!id) continue;
    if (!out.has(id)) out.set(id, new Map());
    out.get(id)!.set(o.key, o.size);
  }
  return out;
}
