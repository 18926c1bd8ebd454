import { pipeline as pipelineCb, type Readable } from "node:stream";
import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { describeError, StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { Progress } from "../progress.js";
import type { CompleteObject, CompleteRecord } from "../repository/complete.js";
import type { Manifest } from "../repository/manifest.js";
import { drain, type Repository, type TrustOptions } from "../repository/repository.js";
import { storedSource } from "../sources/open-source.js";
import type { Check, Layers, OpenLayer, Source } from "../sources/source.js";
import { algorithmFromKey, createDecompressor } from "../codecs/compress.js";
import { inLanes, sourceConcurrency } from "./lanes.js";
import { baseNeeded } from "../differential/needs-base.js";

export interface SourceOutcome {
  source: string;
  object: string;
  stored_bytes: number;
  seconds: number;
  checks: Check[];
  /** A differential's base full. */
  base?: string;
}

/** The source that reads a stored one: of the type the backup's manifest gives, whatever the config says. */
function sourceFor(config: Config, name: string, manifest: Manifest): Source {
  const m = manifest.sources[name];
  if (m?.type !== "files" && m?.type !== "postgres" && m?.type !== "postgres-cluster")
    throw new StrongboxError("VERIFY", `backup's manifest gives source ${name} no known type`);
  return storedSource(
    name,
    m.type,
    config.sources.find((s) => s.name === name),
  );
}

/**
 * For each chosen source of a complete backup: fetch → check SHA-256 → age decrypt → decompress →
 * hand the archive to `consume`. A differential source also gets its base full's object, opened
 * only when the consumer reads it. Returns each source's checks; corruption surfaces as a VERIFY error.
 */
export async function forEachSource(o: {
  repo: Repository;
  rec: CompleteRecord;
  manifest: Manifest;
  identities: Identity[];
  config: Config;
  only: string[];
  log: Logger;
  label: string;
  consume: (source: Source, layers: Layers) => Promise<Check[]>;
  /** Aborting (SIGINT/SIGTERM) tears the running sources' streams down with the signal's reason. */
  signal?: AbortSignal;
  /** How a differential's base is judged (--allow-unsigned lets an untrusted base through, loudly). */
  trust?: TrustOptions;
  /**
   * A partial restore's selection: a differential whose selected entries its own object holds alone
   * is read without its base's object (differential/needs-base.ts).
   */
  select?: (path: string) => boolean;
}): Promise<SourceOutcome[]> {
  const names = o.only.length ? o.only : o.rec.sources.map((s) => s.name);
  const missing = names.filter((n) => !o.rec.sources.some((s) => s.name === n));
  if (missing.length)
    throw new StrongboxError(
      "USAGE",
      `backup ${o.rec.id} has no source ${missing.join(", ")} (it has ${o.rec.sources.map((s) => s.name).join(", ")})`,
    );
  // Two sources at once, as a backup runs them (see lanes.ts); outcomes in the order asked.
  return inLanes(names, sourceConcurrency(), o.signal, async (name, _i, signal): Promise<SourceOutcome> => {
    const object = o.rec.objects.find((x) => x.source === name && !x.part);
    const manifest = o.manifest.sources[name];
    if (!object || !manifest)
      throw new StrongboxError("VERIFY", `backup ${o.rec.id}: source ${name} has no object or manifest entry`);
    const source = sourceFor(o.config, name, o.manifest);
    const chain = object.base ? await readBase(o.repo, o.rec, name, object.base, o.trust) : undefined;
    const base = chain && (await baseRead(o, name, chain.rec)) ? chain : undefined;
    const progress = new Progress(o.log, `${o.label} ${name}`, object.size + (base?.object.size ?? 0));
    const read = new Set<string>();
    const layer =
      (rec: CompleteRecord, obj: CompleteObject): OpenLayer =>
      (use) => {
        read.add(obj.key);
        return readObject({ ...o, signal }, rec, obj, (n) => progress.add(n), use);
      };
    const layers: Layers = {
      read: layer(o.rec, object),
      ...(base ? { base: { id: base.rec.id, read: layer(base.rec, base.object) } } : {}),
      ...(chain && !base ? { withoutBase: chain.rec.id } : {}),
    };
    const t0 = Date.now();
    try {
      const checks = await o.consume(source, layers);
      // A check that passed without reading every object it stands for would be a lie.
      if (!read.has(object.key) || (base && !read.has(base.object.key)))
        throw new Error(`source ${name}: an object was not read`);
      return {
        source: name,
        object: object.key,
        stored_bytes: object.size,
        seconds: (Date.now() - t0) / 1000,
        checks,
        ...(chain ? { base: chain.rec.id } : {}),
      };
    } finally {
      progress.finish();
    }
  });
}

/**
 * Whether a differential's base object is read: always, but for a partial restore whose selection
 * the differential holds alone, judged from the two manifests (the base's is small beside its object).
 */
async function baseRead(
  o: { repo: Repository; manifest: Manifest; identities: Identity[]; select?: (path: string) => boolean; log: Logger },
  name: string,
  baseRec: CompleteRecord,
): Promise<boolean> {
  const diff = o.manifest.sources[name];
  if (!o.select || diff?.type !== "files") return true;
  let manifest: Manifest;
  try {
    manifest = await o.repo.readManifest(baseRec, o.identities);
  } catch (err) {
    // Only a shortcut: a base whose manifest cannot be read is read whole, as a whole restore reads
    // it (which never needs that manifest), so both reach one verdict.
    if (!(err instanceof StrongboxError) || err.code !== "VERIFY") throw err;
    o.log.warn(`${name}: base ${baseRec.id}'s manifest cannot be read (${describeError(err)}): its object is read`);
    return true;
  }
  try {
    const base = manifest.sources[name];
    if (base?.type !== "files") return true;
    const needed = baseNeeded(diff.entries, base.entries, o.select);
    if (!needed)
      o.log.info(`${name}: the selection lies wholly in the differential: base ${baseRec.id}'s object is not read`);
    return needed;
  } finally {
    for (const s of Object.values(manifest.sources)) if (s.type === "files") s.entries.close();
  }
}

/** The full a differential applies on top of: its complete.json and its object of the same source. */
async function readBase(
  repo: Repository,
  rec: CompleteRecord,
  name: string,
  baseId: string,
  trust: TrustOptions = {},
): Promise<{ rec: CompleteRecord; object: CompleteObject }> {
  const what = `backup ${rec.id}: source ${name} is a differential of base ${baseId}`;
  let baseRec: CompleteRecord;
  try {
    // The base is judged as the backup itself was: its complete.json (which holds the SHA-256 of the
    // base's object) is another object a writer can overwrite, and the differential's signature does not cover it.
    await repo.checkTrusted(baseId, trust);
    baseRec = await repo.readComplete(baseId);
  } catch (err) {
    if (err instanceof StrongboxError && err.code === "VERIFY")
      throw new StrongboxError("VERIFY", `${what}, which is missing, damaged or untrusted: ${err.message}`);
    throw err;
  }
  const object = baseRec.objects.find((x) => x.source === name && !x.part);
  const type = baseRec.sources.find((s) => s.name === name)?.type;
  if (!object || type !== "files")
    throw new StrongboxError("VERIFY", `${what}, which holds no files object of ${name}`);
  if (object.base)
    throw new StrongboxError("VERIFY", `${what}, which is itself a differential (a base must be a full)`);
  return { rec: baseRec, object };
}

/** Streams one object's plaintext to `use`, then reads whatever `use` left, so the whole object is checked. */
async function readObject<T>(
  o: { repo: Repository; identities: Identity[]; signal?: AbortSignal },
  rec: CompleteRecord,
  object: CompleteObject,
  onBytes: (n: number) => void,
  use: (data: Readable) => Promise<T>,
): Promise<T> {
  const plain = await o.repo.openDecrypted(rec, object.key, o.identities, onBytes);
  let chainError: Error | undefined;
  let data!: Readable;
  const done = new Promise<void>((resolve) => {
    data = pipelineCb(plain, createDecompressor(algorithmFromKey(object.key)), (err) => {
      chainError = err ?? undefined;
      resolve();
    }) as unknown as Readable;
  });
  const onAbort = () => data.destroy(o.signal!.reason);
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const result = await use(data);
    // A consumer may stop reading before the end (pg_restore --list reads only the TOC): read
    // the rest, so the whole object's SHA-256 and every age chunk are checked all the same.
    data.unpipe();
    if (!data.readableEnded && !data.destroyed) await drain(data);
    await done;
    if (chainError) throw chainError;
    return result;
  } catch (err) {
    data.destroy();
    await done;
    const broken =
      chainError &&
      (chainError as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE" &&
      chainError.name !== "AbortError";
    const root = broken ? chainError : err;
    throw describeDecodeError(root, object.key);
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
}

function describeDecodeError(err: unknown, key: string): unknown {
  // Several sources are read at once: a damaged object says which one it is.
  // An error that already names an object (a differential's, read inside its base's) keeps that name.
  if (err instanceof StrongboxError)
    return err.code === "VERIFY" && !err.message.includes(key) && !err.message.startsWith("backups/")
      ? new StrongboxError("VERIFY", `${key}: ${err.message}`, { cause: err })
      : err;
  const e = err as NodeJS.ErrnoException;
  // zlib and zstd errors mean the decrypted stream is not what was compressed: corruption.
  if (e?.code?.startsWith("Z_") || /zstd|incorrect header|unexpected end|invalid/i.test(e?.message ?? "")) {
    return new StrongboxError("VERIFY", `${key}: cannot decompress (${e.message}): the object is corrupt`);
  }
  return err;
}

/** Fetches an object, checks its hash against complete.json and authenticates it with age, keeping nothing. */
export async function drainObject(
  repo: Repository,
  rec: CompleteRecord,
  key: string,
  identities: Identity[],
): Promise<void> {
  await drain(await repo.openDecrypted(rec, key, identities));
}
