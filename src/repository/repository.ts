import { createHash } from "node:crypto";
import { PassThrough, pipeline as pipelineCb, type Readable } from "node:stream";
import { createOpenStream } from "../crypto/object-streams.js";
import { algorithmFromKey, createDecompressor } from "../codecs/compress.js";
import { createHashCheck } from "../codecs/hashing.js";
import type { Identity } from "../crypto/age-keys.js";
import { NotFoundError, StrongboxError } from "../errors.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import { MANIFEST_FLOOR_BYTES, MAX_COMPLETE_BYTES, parseComplete, type CompleteRecord } from "./complete.js";
import { BACKUPS, backupTime, DRILLS, idOfKey, isBackupId, keys, newestFirst } from "./layout.js";
import { readManifestStream, type Manifest } from "./manifest.js";
import { judge, type TrustPolicy } from "../crypto/signing.js";
import { BACKUP_NAMESPACE, DRILL_NAMESPACE, MAX_SIGNATURE_BYTES } from "../crypto/ssh-signature.js";
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
  /**
   * Stored well after the time it claims (retention/plausible-time.ts): what a back-dated forgery
   * looks like, and also what a copied backup looks like. Retention never counts it unless a trusted
   * signature vouches for the claim; it is no reason to refuse a restore (a forger can always claim
   * "now" instead), so `latest` and explicit ids ignore it.
   */
  backdated?: string;
  /** The trusted key that signed complete.json: `SHA256:… (comment)`. */
  signedBy?: string;
  /** Trusted, with a remark (an unsigned backup let in by signing.allow_unsigned_before). */
  trustNote?: string;
  /** SHA-256 (hex) of the complete.json bytes that were judged: a later read of other bytes is not these. */
  completeSha256?: string;
  /**
   * A differential whose base full is missing, incomplete, damaged, untrusted or holds no full of the
   * source: not restorable. Never `latest`, never counted by retention (kept, flagged), shown by list.
   * Judged only by a whole listing (listBackups() without `only`).
   */
  brokenChain?: string;
}

/** Why a backup cannot be restored as it stands: damaged, untrusted or a broken differential chain (empty: restorable). */
export function unusable(b: BackupListing): string | undefined {
  if (b.damaged) return `damaged: ${b.damaged}`;
  if (!b.complete) return undefined;
  if (b.untrusted?.length) return `untrusted: ${b.untrusted.join("; ")}`;
  if (b.brokenChain) return `broken chain: ${b.brokenChain}`;
  return undefined;
}

/**
 * Per source, its newest restorable backup (`backups` newest first), in one pass: the configured
 * sources, and those that a restorable backup holds (a name only a forged or damaged backup holds is
 * not listed: thousands of them would each cost a line). Linear in the backups and their sources,
 * whatever a forger wrote.
 */
export function newestBySource(backups: BackupListing[], configured: string[]): Map<string, BackupListing | null> {
  const out = new Map<string, BackupListing | null>(configured.map((n) => [n, null]));
  for (const b of backups) {
    if (!b.complete || unusable(b)) continue;
    for (const s of b.complete.sources) if (!out.get(s.name)) out.set(s.name, b);
  }
  return out;
}

/** Warns of the backups a restore point passed over: at most `max` lines, then a count (a forger may have written thousands). */
export function warnSkipped(warn: (m: string) => void, skipped: { id: string; reason: string }[], max = 20): void {
  for (const s of skipped.slice(0, max)) warn(`skipped backup ${s.id}: ${s.reason}`);
  if (skipped.length > max) warn(`${skipped.length - max} more backup(s) skipped ('strongbox list' shows each)`);
}

/** One source of a restore point: the backup it comes from. */
export interface RestorePick {
  source: string;
  backup: BackupListing;
}

/** A restore point: per source, the newest complete, trusted, restorable backup (at or before `at`). */
export interface RestorePoint {
  picks: RestorePick[];
  /** Newer backups passed over, and why (damaged, untrusted, broken chain). */
  skipped: { id: string; reason: string }[];
}

/** Why retention must not count a backup: its untrusted reasons, and a back-dated claim no trusted signature vouches for. */
export function notCounted(b: BackupListing): string[] {
  return b.backdated ? [...(b.untrusted ?? []), b.backdated] : (b.untrusted ?? []);
}

/** restore/verify/drill of an explicit id: --allow-unsigned lets an untrusted backup through, with a warning. */
export interface TrustOptions {
  allowUntrusted?: boolean;
  warn?: (message: string) => void;
}

export interface RepositoryOptions {
  /** How far a backup's claimed time may be from the store's time (retention.clock_skew). */
  clockSkewMs?: number;
  now?: () => Date;
  /** The config's signing policy (trustPolicy(config)); absent, signatures are not checked. */
  trust?: TrustPolicy;
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
  throw new StrongboxError(
    "USAGE",
    `not a backup id: ${ref} (expected YYYYMMDDTHHMMSSZ-xxxxxx, 'latest'${extra.map((e) => ` or '${e}'`).join("")})`,
  );
}

/** complete.json markers read at once by listBackups. */
const MARKER_READS = 8;

/** Read access to a strongbox/1 repository (needs List and Get: the reader role). */
export class Repository {
  /** What the last listBackups() skipped: keys under backups/ whose first part is not a backup id. */
  ignored: IgnoredKeys = { count: 0, sample: [] };
  /** After lastDrills(): drills/ held more candidates than are read, and too few of those counted (see there). */
  drillHistoryIncomplete = false;
  /** What listBackups judged, by id: explicit-id paths reuse the record whose bytes were checked. */
  private readonly listed = new Map<string, BackupListing>();

  constructor(
    readonly store: Store,
    readonly options: RepositoryOptions = {},
  ) {}

  /** Every backup id with its objects, newest first; `complete` is null for incomplete ones. */
  async listBackups(only?: string): Promise<BackupListing[]> {
    const byId = new Map<string, ObjectInfo[]>();
    const ignored: IgnoredKeys = { count: 0, sample: [] };
    for await (const o of this.store.list(only ? keys.dir(only) : BACKUPS)) {
      const id = idOfKey(o.key);
      if (!id) {
        ignored.count++;
        if (ignored.sample.length < 5) ignored.sample.push(quoteName(o.key.slice(0, 200)));
        continue;
      }
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id)!.push(o);
    }
    if (!only) this.ignored = ignored;
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
    if (!only) judgeChains(out);
    return out.sort(newestFirst);
  }

  /**
   * A restore point (`restore latest`, `--at`): for each source, the newest complete backup that
   * holds it and can be restored (trusted, its differential chain whole), at or before `at` when
   * given. NOT_FOUND names a source that has none. `skipped`: the newer ones passed over, and why.
   */
  async restorePoint(sources: string[], at?: Date, trust: TrustOptions = {}): Promise<RestorePoint> {
    const all = await this.listBackups();
    const inTime = (b: BackupListing) => !at || b.time.getTime() <= at.getTime();
    const holds = (b: BackupListing, n: string) => Boolean(b.complete?.sources.some((s) => s.name === n));
    const picks: RestorePick[] = [];
    const skipped = new Map<string, string>();
    const none: string[] = [];
    for (const name of sources) {
      let pick: BackupListing | undefined;
      for (const b of all) {
        if (!inTime(b)) continue;
        // A damaged backup's sources are unknown: it may have been the newest of any of them.
        if (b.damaged) {
          skipped.set(b.id, unusable(b)!);
          continue;
        }
        if (!holds(b, name)) continue;
        const why = unusable(b);
        if (why) {
          skipped.set(b.id, why);
          continue;
        }
        pick = b;
        break;
      }
      if (pick) picks.push({ source: name, backup: pick });
      else none.push(name);
    }
    // Only what was passed over on the way to a pick (or to nothing) is reported.
    const oldest = Math.min(...picks.map((p) => p.backup.time.getTime()));
    const timeOf = new Map(all.map((b) => [b.id, b.time.getTime()]));
    const shown = [...skipped]
      .filter(([id]) => none.length || timeOf.get(id)! >= oldest)
      .map(([id, reason]) => ({ id, reason }));
    if (none.length) {
      const when = at ? ` at or before ${at.toISOString()}` : "";
      const count = (kind: string, label: string) => {
        const n = shown.filter((x) => x.reason.startsWith(kind)).length;
        return n ? [`${n} ${label}`] : [];
      };
      const kinds = [
        ...count("untrusted", "untrusted"),
        ...count("damaged", "damaged"),
        ...count("broken chain", "with a broken chain"),
      ];
      const why = kinds.length ? ` (${kinds.join(", ")}: see 'strongbox list')` : "";
      throw new StrongboxError(
        "NOT_FOUND",
        `no ${kinds.length ? "trusted complete" : "complete"} backup holding ${none.join(", ")}${when} in ${this.store.description}${why}`,
      );
    }
    for (const id of new Set(picks.map((p) => p.backup.id))) {
      const note = picks.find((p) => p.backup.id === id)!.backup.trustNote;
      if (note) trust.warn?.(`backup ${id}: ${note}`);
    }
    return { picks, skipped: shown };
  }

  /**
   * `verify latest`: for each source, the newest backup of it whatever its state (damaged, broken
   * chain), so that a damaged newest backup is verified (and FAILED), not stepped over. Untrusted
   * ones are left out as `latest` leaves them out (list and doctor flag them). So is a damaged one
   * whose id is in the future of the store's or this host's clock: a writer could otherwise store one
   * junk complete.json under 2099 and fail every `verify latest` for good (prune keeps damaged
   * backups). Ids newest first.
   */
  async newestPerSource(sources: string[]): Promise<string[]> {
    const all = await this.listBackups();
    const now = (this.options.now ?? (() => new Date()))();
    const skew = this.options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    const future = (b: BackupListing) =>
      judgeTime({ id: b.id, started_at: "", finished_at: "" }, b.serverTime, now, skew).some(
        (t) => t.kind === "future",
      );
    const ids = new Set<string>();
    for (const name of sources) {
      for (const b of all) {
        if (b.damaged) {
          if (!future(b)) ids.add(b.id); // its sources are unknown: it may be this source's newest
          continue;
        }
        if (!b.complete?.sources.some((s) => s.name === name) || b.untrusted?.length) continue;
        ids.add(b.id);
        break;
      }
    }
    return all.filter((b) => ids.has(b.id)).map((b) => b.id);
  }

  private async listing(id: string, objects: ObjectInfo[], now: Date, skew: number): Promise<BackupListing> {
    const hasMarker = objects.some((o) => o.key === keys.complete(id));
    let complete: CompleteRecord | null = null;
    let damaged: string | undefined;
    let raw: Buffer | undefined;
    if (hasMarker) {
      try {
        const rec = await this.readComplete(id, (b) => (raw = b));
        // The listing is at hand: an object complete.json promises but the store lacks (a write the
        // server acknowledged and lost) or of another size makes the backup damaged, not complete.
        const present = new Map(objects.map((o) => [o.key, o.size]));
        const absent = rec.objects.find((o) => present.get(o.key) !== o.size);
        if (absent) {
          const size = present.get(absent.key);
          throw new StrongboxError(
            "VERIFY",
            `backup ${id}: object ${absent.key} ${size === undefined ? "is missing" : `has ${size} bytes, complete.json says ${absent.size}`}`,
          );
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
    const trust = complete && this.options.trust ? await this.judgeBackup(id, objects, raw!) : undefined;
    if (trust && !trust.trusted) untrusted.push(trust.reason!);
    let backdated: string | undefined;
    if (complete) {
      for (const t of judgeTime(complete, serverTime, now, skew)) {
        // A trusted signature vouches for the claimed time of a backup stored later (a copy).
        if (t.kind === "backdated") backdated = trust?.signer ? undefined : t.reason;
        else untrusted.push(t.reason);
      }
    }
    // started_at is validated against the id, so the time can only refine the id's own second.
    const listing: BackupListing = {
      id,
      time: complete ? new Date(complete.started_at) : backupTime(id),
      objects,
      complete,
      ...(damaged ? { damaged } : {}),
      ...(serverTime ? { serverTime } : {}),
      ...(untrusted.length ? { untrusted } : {}),
      ...(backdated ? { backdated } : {}),
      ...(trust?.signer ? { signedBy: trust.signer } : {}),
      ...(trust?.note ? { trustNote: trust.note } : {}),
      ...(complete && raw ? { completeSha256: createHash("sha256").update(raw).digest("hex") } : {}),
    };
    this.listed.set(id, listing);
    return listing;
  }

  /** The signature verdict on one backup: complete.json's exact bytes against complete.json.sig, at the store's time of complete.json. */
  private async judgeBackup(id: string, objects: ObjectInfo[], raw: Buffer) {
    const sigInfo = objects.find((o) => o.key === keys.completeSig(id));
    const storedAt = objects.find((o) => o.key === keys.complete(id))?.lastModified;
    let signature: Buffer | null | number = null;
    if (sigInfo && sigInfo.size > MAX_SIGNATURE_BYTES) signature = sigInfo.size;
    else if (sigInfo) {
      try {
        signature = await this.readSignature(id);
      } catch (err) {
        // Listed small, read large (a store that lies, or a rewrite in between): refused all the same.
        if (!(err instanceof StrongboxError) || err.code !== "VERIFY") throw err;
        return {
          trusted: false,
          reason: `complete.json.sig: more than a signature may have (${MAX_SIGNATURE_BYTES} bytes); not read further`,
        };
      }
    }
    return judge(this.options.trust!, {
      sigName: "complete.json.sig",
      namespace: BACKUP_NAMESPACE,
      message: raw,
      signature,
      storedAt,
    });
  }

  /** A backup's complete.json.sig (bounded), or null when it has none. */
  async readSignature(id: string): Promise<Buffer | null> {
    try {
      return await readAll(await this.store.get(keys.completeSig(id)), MAX_SIGNATURE_BYTES);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /**
   * An explicit id (restore <id>, verify <id>, drill <id>): a VERIFY error naming every reason when
   * the backup is untrusted, unless opts.allowUntrusted (then a loud warning). Judged exactly as the
   * listing judges it.
   */
  async checkTrusted(id: string, opts: TrustOptions = {}): Promise<void> {
    const listing = this.listed.get(id) ?? (await this.listBackups(id)).find((b) => b.id === id);
    // A damaged marker was never judged (its signature is not checked): it is refused as damaged,
    // never read again and used unjudged.
    if (listing?.damaged) throw new StrongboxError("VERIFY", listing.damaged);
    const reasons = listing?.untrusted ?? [];
    if (listing?.trustNote) opts.warn?.(`backup ${id}: ${listing.trustNote}`);
    if (!reasons.length) return;
    if (!opts.allowUntrusted)
      throw new StrongboxError(
        "VERIFY",
        `backup ${id} is untrusted: ${reasons.join("; ")} (anyone with write access to the repository could have made it; --allow-unsigned uses it anyway)`,
      );
    opts.warn?.(
      `--allow-unsigned: using backup ${id} although it is UNTRUSTED (${reasons.join("; ")}): anyone with write access to the repository could have made it`,
    );
  }

  /**
   * lastDrills' candidates, newest first, at most MAX_DRILL_READS: every report without a signing
   * policy; with one, the reports that have a signature object and those the store dated before
   * allow_unsigned_before (unsigned junk, however much, is never one), each at its own LastModified
   * (a second listing gives it: the store's time, which no writer sets, is what a report is judged
   * at). `truncated`: there were more.
   */
  private async drillCandidates(): Promise<{ candidates: ObjectInfo[]; truncated: boolean }> {
    const newer = (a: ObjectInfo, b: ObjectInfo) =>
      (b.lastModified?.getTime() ?? 0) - (a.lastModified?.getTime() ?? 0) ||
      (a.key < b.key ? 1 : a.key > b.key ? -1 : 0);
    const policy = this.options.trust;
    let candidates: ObjectInfo[] = [];
    let truncated = false;
    const keepNewest = (o: ObjectInfo) => {
      candidates.push(o);
      // Memory stays bounded whatever drills/ holds: keep only the newest MAX_DRILL_READS.
      if (candidates.length >= 2 * MAX_DRILL_READS) {
        candidates = candidates.sort(newer).slice(0, MAX_DRILL_READS);
        truncated = true;
      }
    };
    if (!policy) {
      for await (const o of this.store.list(DRILLS))
        if (DRILL_KEY.test(o.key) && o.size <= MAX_DRILL_REPORT_BYTES) keepNewest(o);
    } else {
      const cutoff = policy.allowUnsignedBefore?.getTime();
      for await (const o of this.store.list(DRILLS)) {
        if (o.key.endsWith(".sig")) {
          if (o.size <= MAX_SIGNATURE_BYTES && DRILL_KEY.test(o.key.slice(0, -4)))
            keepNewest({ ...o, key: o.key.slice(0, -4) });
        } else if (
          cutoff !== undefined &&
          DRILL_KEY.test(o.key) &&
          o.size <= MAX_DRILL_REPORT_BYTES &&
          (o.lastModified?.getTime() ?? Infinity) < cutoff
        )
          keepNewest(o);
      }
      const wanted = new Set(candidates.map((c) => c.key));
      const reports = new Map<string, ObjectInfo>();
      for await (const o of this.store.list(DRILLS))
        if (wanted.has(o.key) && o.size <= MAX_DRILL_REPORT_BYTES) reports.set(o.key, o);
      // Each once (an old report and its signature are one candidate), at its own time; gone: skipped.
      candidates = [...reports.values()];
    }
    if (candidates.length > MAX_DRILL_READS) truncated = true;
    return { candidates: candidates.sort(newer).slice(0, MAX_DRILL_READS), truncated };
  }

  /**
   * The newest drill result per backup id. Reports are taken newest first by the store's own time
   * (LastModified, which no writer sets), not by their names, which a forger chooses. Bounded: at most
   * `limit` reports count, at most MAX_DRILL_READS are read, each at most MAX_DRILL_REPORT_BYTES. With
   * a signing policy only reports with a valid trusted signature (namespace strongbox-drill) count, so
   * a forged or junk report never shows "pass" and junk does not use up the count: the candidates are
   * then the reports that have a signature object, and those stored before allow_unsigned_before (a
   * report with neither, however many, is never one), each judged at its own LastModified.
   * `drillHistoryIncomplete` says when more candidates were listed than could be read and fewer than
   * `limit` of those read counted: an older drill pass may not have been seen.
   */
  async lastDrills(limit = 200, o: { checks?: boolean } = {}): Promise<Map<string, LastDrill>> {
    const { candidates, truncated } = await this.drillCandidates();
    const out = new Map<string, LastDrill>();
    let counted = 0;
    this.drillHistoryIncomplete = false;
    for (const c of candidates) {
      if (counted >= limit) break;
      const drillId = DRILL_KEY.exec(c.key)![1];
      try {
        let signature: Buffer | null = null;
        if (this.options.trust) {
          // The signature first: an unsigned junk report costs one small 404, not a read.
          try {
            signature = await readAll(await this.store.get(keys.drillSig(drillId)), MAX_SIGNATURE_BYTES);
          } catch (err) {
            if (!(err instanceof NotFoundError)) throw err;
          }
        }
        const judgeReport = (message: Buffer) =>
          judge(this.options.trust!, {
            sigName: `${c.key}.sig`,
            namespace: DRILL_NAMESPACE,
            message,
            signature,
            storedAt: c.lastModified,
          }).trusted;
        if (this.options.trust && signature === null && !judgeReport(Buffer.alloc(0))) continue;
        const body = await readAll(await this.store.get(c.key), MAX_DRILL_REPORT_BYTES);
        if (this.options.trust && !judgeReport(body)) continue;
        const r = JSON.parse(body.toString("utf8"));
        if (
          !r ||
          r.format !== "strongbox/1 drill" ||
          r.drill_id !== drillId ||
          typeof r.backup_id !== "string" ||
          !isBackupId(r.backup_id) ||
          (r.result !== "pass" && r.result !== "fail") ||
          typeof r.finished_at !== "string"
        )
          continue;
        counted++;
        if (!out.has(r.backup_id))
          out.set(r.backup_id, {
            result: r.result,
            drill_id: drillId,
            at: r.finished_at.slice(0, 40),
            ...(o.checks ? { checks: drillChecks(r.checks) } : {}),
          });
      } catch {
        // an unreadable report is not a reason to fail listing
      }
    }
    this.drillHistoryIncomplete = truncated && counted < limit;
    return out;
  }

  /** complete.json, validated; `onRaw` gets its exact bytes (what the signature covers). */
  async readComplete(id: string, onRaw?: (body: Buffer) => void): Promise<CompleteRecord> {
    if (!onRaw) {
      // The record listBackups judged (its bytes were the ones checked against the signature).
      const seen = this.listed.get(id)?.complete;
      if (seen) return seen;
      if (this.options.trust) {
        // With a signing policy only judged bytes are ever used: a marker the listing found damaged
        // or absent is not read again (a forger could swap it in between, or it was never judged).
        const listing = this.listed.get(id) ?? (await this.listBackups(id)).find((b) => b.id === id);
        if (listing?.complete) return listing.complete;
        if (listing?.damaged) throw new StrongboxError("VERIFY", listing.damaged);
        throw new StrongboxError(
          "VERIFY",
          `backup ${id} is incomplete (no complete.json): it never finished, or is being written`,
        );
      }
    }
    const key = keys.complete(id);
    let body;
    try {
      body = await readAll(await this.store.get(key), MAX_COMPLETE_BYTES);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new StrongboxError(
          "VERIFY",
          `backup ${id} is incomplete (no complete.json): it never finished, or is being written`,
        );
      if (err instanceof StrongboxError && err.code === "VERIFY")
        throw new StrongboxError(
          "VERIFY",
          `${key}: larger than a commit marker may be (> ${MAX_COMPLETE_BYTES} bytes; corrupt or forged)`,
        );
      throw err;
    }
    onRaw?.(body);
    return parseComplete(body, id);
  }

  /**
   * Resolves `latest` or an id to a complete backup. `latest` is the newest complete backup that
   * holds every source in `sources` (all backups qualify when none are named).
   */
  async resolve(ref: string, sources: string[] = [], trust: TrustOptions = {}): Promise<CompleteRecord> {
    if (ref === "latest") {
      const all = await this.listBackups();
      const holds = (b: BackupListing) =>
        b.complete && sources.every((n) => b.complete!.sources.some((s) => s.name === n));
      // An untrusted backup is never `latest`, however new it claims to be; nor one whose differential chain is broken.
      const latest = all.find((b) => holds(b) && !unusable(b));
      if (!latest) {
        const what = sources.length ? `holding ${sources.join(", ")}` : "";
        const skipped = all.filter((b) => holds(b) && unusable(b)).length;
        const why = skipped ? ` (${skipped} untrusted or unrestorable backup(s) skipped: see 'strongbox list')` : "";
        throw new StrongboxError(
          "NOT_FOUND",
          `no ${skipped ? "trusted " : ""}complete backup ${what} in ${this.store.description}${why}`.replace(
            "  ",
            " ",
          ),
        );
      }
      if (latest.trustNote) trust.warn?.(`backup ${latest.id}: ${latest.trustNote}`);
      return latest.complete!;
    }
    checkBackupRef(ref);
    try {
      // Judged first: the record returned is then the one whose bytes the signature was checked against.
      await this.checkTrusted(ref, trust);
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
      if (err instanceof NotFoundError)
        throw new StrongboxError("VERIFY", `backup ${rec.id}: object ${key} is missing`);
      throw err;
    }
  }

  /**
   * An object's plaintext: stored bytes → size and SHA-256 check → age decryption. The stream
   * fails unless the whole object was read, matched complete.json and passed age authentication.
   * An age failure that looks like a wrong key ("no identity matches") is first checked against
   * the object's SHA-256: damaged bytes are a corrupt backup (VERIFY, exit 3), not a wrong key.
   */
  async openDecrypted(
    rec: CompleteRecord,
    key: string,
    identities: Identity[],
    onBytes?: (n: number) => void,
  ): Promise<Readable> {
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
    const fromAge =
      err instanceof StrongboxError &&
      (err.code === "CRYPTO" || (err.code === "VERIFY" && err.message.startsWith("age:")));
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
    if (object.size > MAX_MANIFEST_BYTES)
      throw new StrongboxError(
        "VERIFY",
        `${object.key}: ${object.size} bytes, more than a manifest may hold (${MAX_MANIFEST_BYTES})`,
      );
    const limit = manifestLimit(object);
    const plain = await this.openDecrypted(rec, object.key, identities);
    const algorithm = algorithmFromKey(object.key);
    // The limit applies to the decompressed JSON: a small forged object must not inflate without bound.
    // pipeline: a decryption failure reaches the reader, and a reader that stops tears both down.
    const json =
      algorithm === "none"
        ? plain
        : (pipelineCb(plain, createDecompressor(algorithm), () => {}) as unknown as Readable);
    let seen = 0;
    const limited = async function* (): AsyncGenerator<Buffer> {
      try {
        for await (const c of json as AsyncIterable<Buffer>) {
          seen += c.length;
          if (seen > limit.bytes)
            throw new StrongboxError(
              "VERIFY",
              `${object.key}: decompresses to more than ${limit.why} (${limit.bytes} bytes): corrupt or forged`,
            );
          yield c;
        }
      } catch (err) {
        throw err instanceof StrongboxError
          ? err
          : new StrongboxError("VERIFY", `${object.key}: cannot decompress the manifest (${(err as Error).message})`);
      }
      if (object.manifest_bytes !== undefined && seen !== object.manifest_bytes) {
        throw new StrongboxError(
          "VERIFY",
          `${object.key}: decompresses to ${seen} bytes, complete.json says ${object.manifest_bytes}: corrupt or forged`,
        );
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
 * Marks each complete differential whose base cannot serve it (docs/format.md, "Differential backups"): the base must be listed,
 * complete (valid complete.json, every object present at its size: what the listing checks), trusted,
 * and hold a full (not itself a differential) files object of the same source.
 */
function judgeChains(all: BackupListing[]): void {
  const byId = new Map(all.map((b) => [b.id, b]));
  for (const b of all) {
    if (!b.complete) continue;
    const problems: string[] = [];
    for (const o of b.complete.objects) {
      if (!o.base || !o.source) continue;
      const base = byId.get(o.base);
      const of = `source ${o.source}: base ${o.base}`;
      if (!base) problems.push(`${of} is missing`);
      else if (base.damaged) problems.push(`${of} is damaged`);
      else if (!base.complete) problems.push(`${of} is incomplete (no complete.json)`);
      else if (base.untrusted?.length) problems.push(`${of} is untrusted`);
      else {
        const full = base.complete.objects.find((x) => x.source === o.source && !x.part);
        if (!full || full.base || base.complete.sources.find((s) => s.name === o.source)?.type !== "files")
          problems.push(`${of} holds no full of ${o.source}`);
      }
    }
    if (problems.length) b.brokenChain = problems.join("; ");
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
  if (object.manifest_bytes !== undefined)
    return { bytes: Math.min(object.manifest_bytes, MAX_MANIFEST_BYTES), why: "complete.json declares" };
  const bytes = Math.min(Math.max(MANIFEST_FLOOR_BYTES, LEGACY_MANIFEST_RATIO * object.size), MAX_MANIFEST_BYTES);
  return {
    bytes,
    why: `a ${object.size}-byte manifest object may hold (max(64 MiB, ${LEGACY_MANIFEST_RATIO} × its size))`,
  };
}

/** Reads a stream to its end, keeping nothing. */
export async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream as AsyncIterable<Buffer>);
}

/** A drill report's key: `drills/<drill-id>.json`, the id made like a backup id. */
const DRILL_KEY = /^drills\/(\d{8}T\d{6}Z-[0-9a-f]{6})\.json$/;
/** A real report is a few KiB (one line per check); more is not a report. */
const MAX_DRILL_REPORT_BYTES = 256 * 1024;
/** A backup's newest drill as lastDrills() reads it; `checks` only when asked for (the status page). */
export interface LastDrill {
  result: "pass" | "fail";
  drill_id: string;
  at: string;
  checks?: { name: string; ok: boolean; detail?: string }[];
}

/** Checks shown at most per drill, and characters kept of a check's name or detail (a report is hostile). */
const MAX_DRILL_CHECKS = 50;
const MAX_CHECK_TEXT = 500;

/** A report's checks, each well-formed one kept (name, ok, detail), bounded in count and length. */
function drillChecks(raw: unknown): { name: string; ok: boolean; detail?: string }[] {
  if (!Array.isArray(raw)) return [];
  const out: { name: string; ok: boolean; detail?: string }[] = [];
  for (const c of raw.slice(0, MAX_DRILL_CHECKS)) {
    if (!c || typeof c.name !== "string" || typeof c.ok !== "boolean") continue;
    const detail = typeof c.detail === "string" ? { detail: c.detail.slice(0, MAX_CHECK_TEXT) } : {};
    out.push({ name: c.name.slice(0, MAX_CHECK_TEXT), ok: c.ok, ...detail });
  }
  return out;
}

/** Reports read at most per lastDrills(), junk included. */
const MAX_DRILL_READS = 1000;
