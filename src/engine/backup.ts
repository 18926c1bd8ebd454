import { hostname } from "node:os";
import { Readable } from "node:stream";
import { pipeline as pipelineCb } from "node:stream";
import type { Config } from "../config/schema.js";
import { parseRecipient } from "../crypto/age-keys.js";
import { createSealStream } from "../crypto/object-streams.js";
import { backupSigningKey, signWith } from "../crypto/signing.js";
import { BACKUP_NAMESPACE } from "../crypto/ssh-signature.js";
import { describeError, StrongboxError, wrapError } from "../errors.js";
import type { Logger } from "../log.js";
import { Progress } from "../progress.js";
import type { CompleteObject, CompleteRecord, WalStart } from "../repository/complete.js";
import { backupClock, TEST_CLOCK_OFFSET_VAR } from "../repository/backup-clock.js";
import { FORMAT, keys, newBackupId } from "../repository/layout.js";
import type { Manifest, SourceManifest } from "../repository/manifest.js";
import { manifestJson } from "../repository/manifest-write.js";
import { openSource } from "../sources/open-source.js";
import type { SourceArtifact } from "../sources/source.js";
import { stateOwner } from "../differential/owner.js";
import type { PutOptions, Store } from "../stores/store.js";
import { VERSION } from "../version.js";
import { createCompressor, EXTENSION, parseCompression, type Compression } from "../codecs/compress.js";
import { inLanes, sourceConcurrency } from "./lanes.js";

export interface BackupResult {
  id: string;
  started_at: string;
  finished_at: string;
  duration_s: number;
  sources: {
    name: string;
    object: string;
    /** files sources: "diff" when only what changed since `base` was stored (README, "Differential backups"). */
    kind: "full" | "diff";
    base?: string;
    /** Files read and stored (for a full, every file). */
    files_changed?: number;
    source_bytes: number;
    stored_bytes: number;
    mb_per_s: number;
    warnings: string[];
    /** Files sources: paths that could not be read (left out: on_unreadable: partial), and the first of them. */
    unreadable?: number;
    skipped?: string[];
    /** Files sources: files that changed while they were read. */
    changed?: number;
  }[];
  stored_bytes: number;
  warnings: string[];
  /** The sources committed with unreadable paths left out (complete.json `partial`). */
  partial: string[];
  /** The sources that failed: not in this backup (the others are committed). */
  failed: { name: string; error: string }[];
}

/** Only a source's own failure leaves the others to be committed; an interrupt, or a store or encryption failure, stops them all. */
function failsOnlyItsSource(err: unknown): boolean {
  return err instanceof StrongboxError && err.code === "SOURCE";
}

/**
 * Streams every source through compress → age → hash → store, then writes the encrypted manifest
 * and, last, complete.json. A source that fails on its own (its data cannot be read, its database
 * cannot be reached) is left out and the others are committed: `failed` names it. Any other failure
 * (an interrupt, the store, encryption), or every source failing, leaves the backup without
 * complete.json: incomplete.
 */
export async function runBackup(o: {
  config: Config;
  sources: Config["sources"];
  store: Store;
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  /** `backup now --full`: differential sources take a full backup. */
  full?: boolean;
}): Promise<BackupResult> {
  const now = o.now ?? (() => backupClock());
  const started = now();
  // Test-only: said loudly, so that a leaked setting on a host is seen (a shifted claim can look untrusted).
  if (!o.now && process.env[TEST_CLOCK_OFFSET_VAR])
    o.log.warn(
      `${TEST_CLOCK_OFFSET_VAR} is set: this backup's times are shifted by ${process.env[TEST_CLOCK_OFFSET_VAR]} ms (a test-only setting; unset it on a host)`,
    );
  const id = newBackupId(started);
  const recipients = o.config.encryption.recipients.map((r) => parseRecipient(r)!);
  // Read before anything is stored: a backup that could not be signed would be untrusted everywhere.
  const signer = backupSigningKey(o.config);
  const compression = parseCompression(o.config.compression);
  const objects: CompleteObject[] = [];
  const manifest: Manifest = { format: FORMAT, id, created_at: started.toISOString(), host: hostname(), sources: {} };
  const result: BackupResult = {
    id,
    started_at: started.toISOString(),
    finished_at: "",
    duration_s: 0,
    sources: [],
    stored_bytes: 0,
    warnings: [],
    partial: [],
    failed: [],
  };
  /** compress? → age → hash → store; returns what complete.json records for the object. */
  const storeObject = async (
    key: string,
    stream: Readable,
    compress: boolean | Compression,
    signal = o.signal,
  ): Promise<CompleteObject> => {
    const stages = compress ? [createCompressor(compress === true ? compression : compress)] : [];
    // handOver: the sources' and compressors' buffers are never touched once passed on, so they go to the worker uncopied.
    // md5Parts: an S3 store's parts' Content-MD5 are taken on the crypto worker, beside the SHA-256.
    const sealed = createSealStream(recipients, undefined, { handOver: true, md5Parts: o.store.partSize });
    await storeStream(o.store, key, [stream, ...stages, sealed], signal, { partMd5: sealed.partMd5 });
    return { key, size: sealed.stored.bytes, sha256: sealed.stored.sha256 };
  };
  o.log.info(`backup ${id} started`, { id, sources: o.sources.map((s) => s.name), repository: o.store.description });
  const lockDays = o.config.repository.s3?.object_lock_days ?? 0;
  const extend = o.store.extendRetention && lockDays > 0 ? o.store.extendRetention.bind(o.store) : undefined;
  const differential = {
    owner: stateOwner(o.config),
    forceFull: Boolean(o.full),
    now: started,
    // With Object Lock a base must outlive its differentials: a day's margin covers the backup's own run.
    // Where the writer may look (a file:// repository): a full deleted by hand (or lost) is noticed before a differential needs it.
    baseExists: o.store.has ? (baseId: string) => o.store.has!(keys.complete(baseId)) : undefined,
    protectBase: extend
      ? (keys: string[]) =>
          Promise.all(keys.map((k) => extend(k, lockDays + 1, { signal: o.signal }))).then(() => undefined)
      : undefined,
  };
  const commits: { commit: NonNullable<SourceArtifact["commit"]>; key: string }[] = [];
  const bases = new Map<string, string[]>();

  // Sources run side by side, up to sourceConcurrency() at once (a database dump is mostly pg_dump's and
  // the server's CPU, a file tree mostly this process's): each has its own object, and what they
  // add to the manifest and complete.json is put in config order afterwards. A source's own failure
  // is recorded and the others go on; any other failure stops them all (the same path as an
  // interrupt) and is the error reported, once all have ended.
  const outcomes = await inLanes(
    o.sources,
    sourceConcurrency(),
    o.signal,
    async (cfg, _i, signal) => {
      const resolved =
        cfg.type === "files" ? { ...cfg, on_unreadable: cfg.on_unreadable ?? o.config.on_unreadable } : cfg;
      try {
        return {
          done: await backupSource(resolved, { id, compression, differential, storeObject, log: o.log, signal }),
        };
      } catch (err) {
        if (signal.aborted || !failsOnlyItsSource(err)) throw err;
        o.log.error(`${cfg.name}: failed, left out of backup ${id}: ${describeError(err)}`, { source: cfg.name });
        return { failed: { name: cfg.name, err } };
      }
    },
    (finished) => {
      for (const d of finished) if (d?.done?.part.type === "files") d.done.part.entries.close();
    },
  );
  const failed = outcomes.flatMap((x) => (x.failed ? [x.failed] : []));
  const done = outcomes.flatMap((x) => (x.done ? [x.done] : []));
  // Nothing to commit: the (first) failure is the run's error, as when there was one source.
  if (done.length === 0) throw failed[0].err;
  result.failed = failed.map((f) => ({ name: f.name, error: describeError(f.err) }));
  for (const d of done) {
    manifest.sources[d.entry.name] = d.part;
    objects.push(d.stored, ...d.extras);
    if (d.commit) commits.push({ commit: d.commit, key: d.entry.object });
    if (d.base) bases.set(d.entry.name, d.base);
    result.sources.push(d.entry);
    result.warnings.push(...d.part.warnings.map((w) => `${d.entry.name}: ${w}`));
    if (d.part.type === "files" && d.part.unreadable) result.partial.push(d.entry.name);
  }

  // Compressed like the data: a tree's manifest is mostly paths and hashes (20,000 files: 4.2 MB → 0.8 MB).
  const manifestKey = keys.manifest(id, EXTENSION[compression.algorithm]);
  // zstd level 1: mostly SHA-256 hex, which higher levels do not shrink further (measured: level 1 782 kB, 3 945 kB, 19 739 kB).
  const manifestCompression =
    compression.algorithm === "zstd" ? { algorithm: "zstd" as const, level: 1, serial: true } : compression;
  try {
    // Its JSON size goes into complete.json: readers refuse a manifest that decompresses to more.
    let manifestBytes = 0;
    const counted = function* () {
      for (const b of manifestJson(manifest)) {
        manifestBytes += b.length;
        yield b;
      }
    };
    const stored = await storeObject(manifestKey, Readable.from(counted(), { highWaterMark: 1 }), manifestCompression);
    objects.push({ ...stored, manifest_bytes: manifestBytes });
  } finally {
    for (const part of Object.values(manifest.sources)) if (part.type === "files") part.entries.close();
  }

  const finished = now();
  const complete: CompleteRecord = {
    format: FORMAT,
    id,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    host: hostname(),
    tool_version: VERSION,
    compression: o.config.compression,
    // Only the sources stored: a backup that holds some of them is a complete backup of those.
    sources: o.sources
      .filter((s) => done.some((d) => d.entry.name === s.name))
      .map((s) => ({ name: s.name, type: s.type, ...walStartOf(manifest.sources[s.name]) })),
    objects,
    warnings: result.warnings.length,
    ...(result.partial.length ? { partial: result.partial } : {}),
  };
  if (o.signal?.aborted) throw new StrongboxError("SOURCE", `backup ${id} interrupted before it was committed`);
  // The base was locked for a day more than this backup's objects; a run longer than that locks it again.
  if (extend && Date.now() - started.getTime() > 23 * 3600_000) {
    for (const [name, baseKeys] of bases) {
      for (const k of baseKeys) {
        try {
          await extend(k, lockDays + 1, { signal: o.signal });
        } catch (err) {
          throw wrapError(
            err,
            "STORE",
            `backup ${id}: source ${name}: extending the Object Lock retention of its base`,
          );
        }
      }
    }
  }
  const completeBytes = Buffer.from(JSON.stringify(complete, null, 2) + "\n");
  // The signature goes first, so complete.json stays the last write and a complete backup always has it.
  // complete.json holds every object's SHA-256: signing its exact bytes covers the whole backup.
  if (signer)
    await o.store.put(keys.completeSig(id), Readable.from([signWith(signer, BACKUP_NAMESPACE, completeBytes)]), {
      signal: o.signal,
    });
  await o.store.put(keys.complete(id), Readable.from([completeBytes]), { signal: o.signal });
  // A full that will become the base of differentials: its commit must be confirmed first, or one lost
  // write makes every later differential unrestorable (differential/state.ts).
  if (commits.length && !(await confirmCommit(o.store, id, completeBytes, o.log, o.signal))) commits.length = 0;
  for (const c of commits) {
    // The backup is committed; a state that cannot be written only changes what the next backup is based on (the error says what).
    try {
      c.commit({ id, started_at: started.toISOString(), objects: [keys.complete(id), manifestKey, c.key] });
    } catch (err) {
      o.log.warn(`cannot write the differential state: ${(err as Error).message}`);
    }
  }
  result.finished_at = finished.toISOString();
  result.duration_s = Number(((finished.getTime() - started.getTime()) / 1000).toFixed(3));
  result.stored_bytes = objects.reduce((n, x) => n + x.size, 0);
  o.log.info(`backup ${id} complete`, {
    id,
    stored_bytes: result.stored_bytes,
    duration_s: result.duration_s,
    warnings: result.warnings.length,
    ...(result.partial.length ? { partial: result.partial } : {}),
    ...(failed.length ? { failed_sources: failed.map((f) => f.name) } : {}),
  });
  return result;
}

/**
 * Whether the full's complete.json is really stored (Store.confirmStored, asked twice: an S3 store
 * re-sends a missing one, and the second answer says whether that copy landed). Not stored: the
 * backup is not committed, exit 1. Cannot tell: committed as far as we know, but not made a base.
 */
async function confirmCommit(
  store: Store,
  id: string,
  body: Buffer,
  log: Logger,
  signal?: AbortSignal,
): Promise<boolean> {
  const key = keys.complete(id);
  let seen = store.confirmStored ? await store.confirmStored(key, body, { signal }) : undefined;
  if (seen === false) seen = await store.confirmStored!(key, body, { signal });
  if (seen === false)
    throw new StrongboxError(
      "STORE",
      `backup ${id}: the store acknowledged ${key} but does not hold it (a lost write): the backup is not committed, and the differential state still names the previous full`,
    );
  if (seen === undefined)
    log.warn(
      `backup ${id}: cannot confirm that ${key} is stored, so this full is not made the base of differentials (the state keeps naming the earlier full, if there is one; else the next backup is a full too)`,
    );
  return seen === true;
}

interface SourceDone {
  entry: BackupResult["sources"][number];
  part: Manifest["sources"][string];
  stored: CompleteObject;
  extras: CompleteObject[];
  commit?: NonNullable<SourceArtifact["commit"]>;
  base?: string[];
}

/** One source: its object (and extras) stored, and what the manifest and complete.json record of it. */
async function backupSource(
  cfg: Config["sources"][number],
  o: {
    id: string;
    compression: Compression;
    differential: Parameters<ReturnType<typeof openSource>["backup"]>[0]["differential"];
    storeObject: (
      key: string,
      stream: Readable,
      compress: boolean | Compression,
      signal: AbortSignal,
    ) => Promise<CompleteObject>;
    log: Logger;
    signal: AbortSignal;
  },
): Promise<SourceDone> {
  const { id, compression } = o;
  const source = openSource(cfg);
  const t0 = Date.now();
  // eslint-disable-next-line prefer-const -- onBytes may run before it is set
  let progress: Progress | undefined;
  const artifact = await source.backup({
    log: o.log,
    signal: o.signal,
    onBytes: (n) => progress?.add(n),
    differential: o.differential,
  });
  progress = new Progress(o.log, source.name, artifact.estimatedBytes);
  artifact.laterEstimate?.onTotal((n) => progress?.setTotal(n));
  const key = keys.object(id, `${source.name}${artifact.suffix}${EXTENSION[compression.algorithm]}.age`);
  let stored: CompleteObject;
  try {
    stored = {
      ...(await o.storeObject(key, artifact.stream, true, o.signal)),
      source: source.name,
      ...(artifact.base ? { base: artifact.base.id } : {}),
    };
  } catch (err) {
    throw wrapError(err, "SOURCE", `backup ${id}: source ${source.name}`);
  } finally {
    progress.finish();
    await artifact.laterEstimate?.stop();
  }
  const extras: CompleteObject[] = [];
  for (const extra of artifact.extras ?? []) {
    const extraKey = keys.object(
      id,
      `${source.name}${extra.suffix}${extra.compress ? EXTENSION[compression.algorithm] : ""}.age`,
    );
    try {
      extras.push({
        ...(await o.storeObject(extraKey, extra.stream(), extra.compress, o.signal)),
        source: source.name,
        part: extra.part,
      });
    } catch (err) {
      throw wrapError(err, "SOURCE", `backup ${id}: source ${source.name} (${extra.part})`);
    }
  }
  const part = await artifact.finish();
  part.object = key;
  const seconds = Math.max((Date.now() - t0) / 1000, 0.001);
  const entry = {
    name: source.name,
    object: key,
    kind: artifact.base ? ("diff" as const) : ("full" as const),
    ...(artifact.base ? { base: artifact.base.id } : {}),
    ...(part.type === "files" ? { files_changed: part.base ? part.stored_files : part.files } : {}),
    source_bytes: progress.done,
    stored_bytes: stored.size,
    mb_per_s: Number((progress.done / 1e6 / seconds).toFixed(1)),
    warnings: part.warnings,
    ...(part.type === "files"
      ? {
          unreadable: part.unreadable ?? 0,
          ...(part.skipped ? { skipped: part.skipped.slice(0, 20) } : {}),
          changed: part.changed ?? 0,
        }
      : {}),
  };
  o.log.info(`${source.name}: stored`, {
    object: key,
    source_bytes: entry.source_bytes,
    stored_bytes: entry.stored_bytes,
    mb_per_s: entry.mb_per_s,
  });
  return { entry, part, stored, extras, commit: artifact.commit, base: artifact.base?.objects };
}

function isPrematureClose(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ERR_STREAM_PREMATURE_CLOSE" || (err as Error)?.name === "AbortError";
}

/**
 * Pipes a chain of streams into store.put. Whichever side fails first tears down the other;
 * the error reported is the root cause (a source or crypto failure, not the broken pipe it causes).
 */
export async function storeStream(
  store: Store,
  key: string,
  chain: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[],
  signal?: AbortSignal,
  putOptions: Omit<PutOptions, "signal"> = {},
): Promise<void> {
  const streams = chain as unknown as [NodeJS.ReadableStream, ...NodeJS.ReadWriteStream[]];
  const last = chain[chain.length - 1] as unknown as Readable;
  const chainDone = new Promise<void>((resolve, reject) => {
    pipelineCb(...(streams as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]), (err?: Error | null) =>
      err ? reject(err) : resolve(),
    );
  });
  const onAbort = () => last.destroy(new StrongboxError("SOURCE", "interrupted"));
  if (signal?.aborted) {
    // Aborted while this source was being opened (a sibling failed, or an interrupt): nothing is
    // stored; the chain, and the source's child process with it, is torn down before returning.
    onAbort();
    await chainDone.catch(() => {});
    throw new StrongboxError("SOURCE", "interrupted");
  }
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const [put, piped] = await Promise.allSettled([store.put(key, last, { ...putOptions, signal }), chainDone]);
    if (piped.status === "rejected" && !isPrematureClose(piped.reason)) throw piped.reason;
    if (put.status === "rejected") throw put.reason;
    if (piped.status === "rejected") throw piped.reason;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** A cluster base's WAL start for complete.json: what prune needs to know which archived WAL it keeps. */
function walStartOf(part: SourceManifest | undefined): { wal?: WalStart } {
  if (part?.type !== "postgres-cluster") return {};
  return { wal: { system_identifier: part.system_identifier, timeline: part.timeline, start_wal: part.start_wal } };
}
