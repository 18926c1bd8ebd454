import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { forEachSource } from "../engine/restore.js";
import type { Repository, TrustOptions } from "../repository/repository.js";
import { FilesSource } from "../sources/files.js";
import { quoteName } from "../terminal-safe.js";
import { dumpSink, type ByteOut } from "./dump-sink.js";
import { entryAt, normalisePath, type OpenedTree } from "./tree.js";

/**
 * Writes one file of a backup to `out`, as restore would write it: the source's object (and a
 * differential's base) fetched, hash-checked, decrypted and read through the one tree pass with
 * every check restore makes; the file's bytes leave as they come except the last chunk, held
 * until the file matches the manifest's SHA-256 (dump-sink.ts). Fails NOT_FOUND for a path the
 * manifest does not hold, USAGE for one that is not a file, VERIFY (exit 3) for any mismatch.
 */
export async function dumpFile(o: {
  repo: Repository;
  tree: OpenedTree;
  source: string;
  path: string;
  identities: Identity[];
  config: Config;
  log: Logger;
  out: ByteOut;
  signal?: AbortSignal;
  trust?: TrustOptions;
}): Promise<{ size: number; sha256: string }> {
  const path = normalisePath(o.path);
  const at = `backup ${o.tree.rec.id}, source ${o.source}`;
  if (!path) throw new StrongboxError("USAGE", `dump needs the path of a file in ${at}`);
  const entry = entryAt(o.tree, o.source, path);
  if (!entry) throw new StrongboxError("NOT_FOUND", `${at} holds no ${quoteName(path)}`);
  if (entry.type !== "file" || entry.sha256 === undefined)
    throw new StrongboxError("USAGE", `${at}: ${quoteName(path)} is a ${entry.type}, not a file`);
  const expected = { sha256: entry.sha256, size: entry.size };
  const sink = dumpSink(path, expected, o.out);
  const [outcome] = await forEachSource({
    repo: o.repo,
    rec: o.tree.rec,
    manifest: o.tree.manifest,
    identities: o.identities,
    config: o.config,
    only: [o.source],
    log: o.log,
    label: "dump",
    signal: o.signal,
    trust: o.trust,
    select: (p) => p === path,
    consume: (source, layers) => {
      if (!(source instanceof FilesSource))
        throw new StrongboxError("USAGE", `source ${o.source} is not a files source`);
      return source.read(layers, o.tree.manifest.sources[o.source], () => sink, { log: o.log });
    },
  });
  const bad = outcome.checks.filter((c) => !c.ok);
  if (bad.length)
    throw new StrongboxError(
      "VERIFY",
      `${at}: the archive does not match the manifest: ${bad.map((c) => `${c.name}: ${c.detail}`).join("; ")}`,
    );
  if (!sink.found())
    throw new StrongboxError("VERIFY", `${at}: the archive holds no ${quoteName(path)}, which the manifest lists`);
  return expected;
}
