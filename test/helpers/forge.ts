// Forges backups the way an attacker could: with only the PUBLIC recipient and write access to the
// repository. No private key is used here. Used to prove that restore, verify, list, prune and drill
// treat what they read from a repository as hostile.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { zstdCompressSync } from "node:zlib";
import { createEncryptStream } from "../../src/crypto/age.js";
import { parseRecipient } from "../../src/crypto/age-keys.js";
import { newBackupId } from "../../src/repository/layout.js";

export async function ageEncrypt(plain: Buffer, recipient: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from([plain]).pipe(createEncryptStream([parseRecipient(recipient)!])))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A manifest entry of a file `path` holding `body` (mode 644, a fixed mtime). */
export const fileManifestEntry = (path: string, body: Buffer) => ({
  path,
  type: "file",
  size: body.length,
  mode: 0o644,
  mtime: "1762140300",
  sha256: sha256(body),
});

export interface ForgeOptions {
  /** Plaintext tar per files source (before compression). */
  files: Record<string, { tar: Buffer; entries: Record<string, unknown>[] }>;
  id?: string;
  /** Change the manifest before it is encrypted. */
  manifest?: (m: Record<string, any>) => void;
  /** Change complete.json last (hashes are already filled in). */
  complete?: (c: Record<string, any>) => void;
}

/** Writes a well-formed (unless told otherwise) backup into a file:// repository directory. */
export async function forgeBackup(repoDir: string, recipient: string, o: ForgeOptions): Promise<string> {
  const id = o.id ?? newBackupId();
  const dir = join(repoDir, "backups", id);
  mkdirSync(dir, { recursive: true });
  const objects: Record<string, unknown>[] = [];
  const manifest: Record<string, any> = {
    format: "strongbox/1",
    id,
    created_at: new Date().toISOString(),
    host: "forger",
    sources: {},
  };
  for (const [name, f] of Object.entries(o.files)) {
    const key = `backups/${id}/${name}.tar.zst.age`;
    const body = await ageEncrypt(zstdCompressSync(f.tar), recipient);
    writeFileSync(join(repoDir, key), body);
    objects.push({ key, size: body.length, sha256: sha256(body), source: name });
    const files = f.entries.filter((e) => e.type === "file");
    manifest.sources[name] = {
      type: "files",
      path: "/forged",
      object: key,
      files: files.length,
      bytes: files.reduce((n, e) => n + (e.size as number), 0),
      entries: f.entries,
      warnings: [],
    };
  }
  o.manifest?.(manifest);
  const mkey = `backups/${id}/manifest.json.age`;
  const mbody = await ageEncrypt(Buffer.from(JSON.stringify(manifest)), recipient);
  writeFileSync(join(repoDir, mkey), mbody);
  objects.push({ key: mkey, size: mbody.length, sha256: sha256(mbody) });
  const t = idTime(id);
  const complete: Record<string, any> = {
    format: "strongbox/1",
    id,
    started_at: t.toISOString(),
    finished_at: new Date(t.getTime() + 900).toISOString(),
    host: "forger",
    tool_version: "0.1.0",
    compression: "zstd",
    sources: Object.keys(o.files).map((name) => ({ name, type: "files" })),
    objects,
    warnings: 0,
  };
  o.complete?.(complete);
  writeFileSync(join(dir, "complete.json"), JSON.stringify(complete, null, 2));
  return id;
}

export function idTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id)!;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/** Rewrites an object of a file:// backup with `mutate`, and (if asked) complete.json's record of it to match. */
export function tamper(
  repoDir: string,
  id: string,
  file: string,
  mutate: (b: Buffer) => Buffer,
  o: { rehash: boolean },
): void {
  const path = join(repoDir, "backups", id, file);
  const body = mutate(readFileSync(path));
  writeFileSync(path, body);
  if (!o.rehash) return;
  const cpath = join(repoDir, "backups", id, "complete.json");
  const rec = JSON.parse(readFileSync(cpath, "utf8"));
  const obj = rec.objects.find((x: { key: string }) => x.key.endsWith(`/${file}`));
  obj.size = body.length;
  obj.sha256 = sha256(body);
  writeFileSync(cpath, JSON.stringify(rec, null, 2));
}
