import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createEncryptStream } from "../../src/crypto/age.js";
import { parseRecipient } from "../../src/crypto/age-keys.js";
import { silentLogger } from "../../src/log.js";
import { backupTime, FORMAT, keys, newBackupId } from "../../src/repository/layout.js";
import { FilesSource } from "../../src/sources/files.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { S3Store } from "../../src/stores/s3.js";
import type { Store } from "../../src/stores/store.js";
import type { TestRepo } from "./cli.js";

/**
 * Forges backups as an attacker who holds only the PUBLIC recipient and write access would:
 * objects, manifest and complete.json built with the project's own tar and age code.
 */

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export async function encryptTo(recipient: string, data: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([data]),
    createEncryptStream([parseRecipient(recipient)!]),
    async function (src: AsyncIterable<Buffer>) {
      for await (const c of src) out.push(c);
    },
  );
  return Buffer.concat(out);
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The writer-side store of a test repository (file:// or the S3 writer role). */
export function writerStore(repo: TestRepo): Store {
  const url: string = repo.config.repository.url;
  if (url.startsWith("file://")) return new LocalDirStore(url.slice("file://".length));
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url)!;
  const s3 = repo.config.repository.s3;
  return new S3Store({
    bucket: m[1],
    prefix: m[2] ? `${m[2].replace(/\/$/, "")}/` : "",
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: s3.credentials.writer.access_key_id,
      secretAccessKey: s3.credentials.writer.secret_access_key,
    },
    role: "writer",
  });
}

export interface ForgeOptions {
  /** Files sources: name → directory whose tree becomes the (uncompressed) archive. */
  files: Record<string, string>;
  started?: Date;
  /** A chosen id (its time is the start time), e.g. 99991231T235959Z-ffffff. */
  id?: string;
  /** Edits before encryption/commit; hashes and sizes are recomputed afterwards, as a forger would. */
  objectKey?: (id: string, name: string) => string;
  manifest?: (m: any) => void;
  complete?: (c: any) => void;
  /** The final complete.json text, e.g. to make it unreadable. */
  completeText?: (text: string) => string;
}

export async function forgeBackup(
  store: Store,
  recipient: string,
  o: ForgeOptions,
): Promise<{ id: string; complete: any }> {
  const started = o.started ?? (o.id ? backupTime(o.id) : new Date());
  const id = o.id ?? newBackupId(started);
  const manifest: any = { format: FORMAT, id, created_at: started.toISOString(), host: "forger", sources: {} };
  const objects: any[] = [];
  const sources: any[] = [];
  for (const [name, dir] of Object.entries(o.files)) {
    const artifact = await new FilesSource({
      name: "forged",
      type: "files",
      path: dir,
      exclude: [],
      one_file_system: false,
    }).backup({ log: silentLogger });
    const plain = await collect(artifact.stream);
    const part: any = await artifact.finish();
    part.entries = part.entries.toArray(); // a plain list, for the tests' manifest hooks to tamper with
    const key = o.objectKey?.(id, name) ?? keys.object(id, `${name}.tar.age`);
    part.object = key;
    manifest.sources[name] = part;
    const body = await encryptTo(recipient, plain);
    await store.put(key, Readable.from([body]));
    objects.push({ key, size: body.length, sha256: sha256(body), source: name });
    sources.push({ name, type: "files" });
  }
  o.manifest?.(manifest);
  const mbody = await encryptTo(recipient, Buffer.from(JSON.stringify(manifest)));
  await store.put(keys.manifest(id), Readable.from([mbody]));
  objects.push({ key: keys.manifest(id), size: mbody.length, sha256: sha256(mbody) });
  const complete: any = {
    format: FORMAT,
    id,
    started_at: started.toISOString(),
    finished_at: new Date(started.getTime() + 500).toISOString(),
    host: "forger",
    tool_version: "0.0.0",
    compression: "none",
    sources,
    objects,
    warnings: 0,
  };
  o.complete?.(complete);
  let text = JSON.stringify(complete, null, 2) + "\n";
  if (o.completeText) text = o.completeText(text);
  await store.put(keys.complete(id), Readable.from([Buffer.from(text)]));
  return { id, complete };
}
