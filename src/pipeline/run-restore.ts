import { pipeline as pipelineCb, type Readable } from "node:stream";
import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { Progress } from "../progress.js";
import type { CompleteRecord } from "../repository/complete.js";
import type { Manifest } from "../repository/manifest.js";
import { drain, type Repository } from "../repository/repository.js";
import { openSource } from "../sources/open-source.js";
import type { Check, Source } from "../sources/source.js";
import { algorithmFromKey, createDecompressor } from "./compress.js";

export interface SourceOutcome {
  source: string;
  object: string;
  stored_bytes: number;
  seconds: number;
  checks: Check[];
}

/** The configured source of that name, or a stand-in built from the backup's own record. */
function sourceFor(config: Config, name: string, manifest: Manifest): Source {
  const cfg = config.sources.find((s) => s.name === name);
  if (cfg) return openSource(cfg);
  const m = manifest.sources[name];
  if (m?.type === "files") return openSource({ name, type: "files", path: m.path, exclude: [], one_file_system: false });
  if (m?.type === "postgres") return openSource({ name, type: "postgres", url: "postgres://localhost/unused", globals: false, schemas: [], exclude_tables: [] });
  throw new StrongboxError("CONFIG", `backup holds source ${name}, which is not in the config`);
}

/**
 * For each chosen source of a complete backup: fetch → check SHA-256 → age decrypt → decompress →
 * hand the archive to `consume`. Returns each source's checks; corruption surfaces as a VERIFY error.
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
  consume: (source: Source, data: Readable) => Promise<Check[]>;
  /** Aborting (SIGINT/SIGTERM) tears the current source's stream down with the signal's reason. */
  signal?: AbortSignal;
}): Promise<SourceOutcome[]> {
  const names = o.only.length ? o.only : o.rec.sources.map((s) => s.name);
  const missing = names.filter((n) => !o.rec.sources.some((s) => s.name === n));
  if (missing.length) throw new StrongboxError("USAGE", `backup ${o.rec.id} has no source ${missing.join(", ")} (it has ${o.rec.sources.map((s) => s.name).join(", ")})`);
  const out: SourceOutcome[] = [];
  for (const name of names) {
    const object = o.rec.objects.find((x) => x.source === name && !x.part);
    const manifest = o.manifest.sources[name];
    if (!object || !manifest) throw new StrongboxError("VERIFY", `backup ${o.rec.id}: source ${name} has no object or manifest entry`);
    const source = sourceFor(o.config, name, o.manifest);
    const progress = new Progress(o.log, `${o.label} ${name}`, object.size);
    const t0 = Date.now();
    const plain = await o.repo.openDecrypted(o.rec, object.key, o.identities, (n) => progress.add(n));
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
      const checks = await o.consume(source, data);
      // A consumer may stop reading before the end (pg_restore --list reads only the TOC): read
      // the rest, so the whole object's SHA-256 and every age chunk are checked all the same.
      data.unpipe();
      if (!data.readableEnded && !data.destroyed) await drain(data);
      await done;
      if (chainError) throw chainError;
      out.push({ source: name, object: object.key, stored_bytes: object.size, seconds: (Date.now() - t0) / 1000, checks });
    } catch (err) {
      data.destroy();
      await done;
      const broken = chainError && (chainError as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE" && chainError.name !== "AbortError";
      const root = broken ? chainError : err;
      throw describeDecodeError(root, object.key);
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
      progress.finish();
    }
  }
  return out;
}

function describeDecodeError(err: unknown, key: string): unknown {
  if (err instanceof StrongboxError) return err;
  const e = err as NodeJS.ErrnoException;
  // zlib and zstd errors mean the decrypted stream is not what was compressed: corruption.
  if (e?.code?.startsWith("Z_") || /zstd|incorrect header|unexpected end|invalid/i.test(e?.message ?? "")) {
    return new StrongboxError("VERIFY", `${key}: cannot decompress (${e.message}): the object is corrupt`);
  }
  return err;
}

/** Fetches an object, checks its hash against complete.json and authenticates it with age, keeping nothing. */
export async function drainObject(repo: Repository, rec: CompleteRecord, key: string, identities: Identity[]): Promise<void> {
  await drain(await repo.openDecrypted(rec, key, identities));
}
