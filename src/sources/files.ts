import { promises as fsp } from "node:fs";
import type { Readable } from "node:stream";
import { extractTar, scanTar, type ExtractedFile } from "../archive/extract.js";
import { makeExcluder } from "../archive/glob.js";
import { packTar, type ManifestEntry } from "../archive/tar-pack.js";
import { walkTree } from "../archive/walk.js";
import type { FilesSourceConfig } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import type { FilesManifest, SourceManifest } from "../repository/manifest.js";
import { describeDiff, diffTree } from "./tree-check.js";
import type { Check, JobContext, RestoreTarget, Source, SourceArtifact } from "./source.js";

export class FilesSource implements Source {
  readonly type = "files" as const;
  readonly name: string;

  constructor(private readonly cfg: FilesSourceConfig) {
    this.name = cfg.name;
  }

  async backup(ctx: JobContext): Promise<SourceArtifact> {
    const root = this.cfg.path;
    const st = await fsp.stat(root).catch((err: NodeJS.ErrnoException) => {
      throw new StrongboxError("SOURCE", `source ${this.name}: cannot read ${root} (${err.code === "ENOENT" ? "no such directory" : err.code})`);
    });
    if (!st.isDirectory()) throw new StrongboxError("SOURCE", `source ${this.name}: ${root} is not a directory`);
    const warnings: string[] = [];
    const warn = (msg: string) => {
      warnings.push(msg);
      ctx.log.warn(`${this.name}: ${msg}`);
    };
    const entries = await walkTree(root, { exclude: makeExcluder(this.cfg.exclude), oneFileSystem: this.cfg.one_file_system, warn });
    const estimatedBytes = entries.reduce((n, e) => n + e.size, 0);
    const recorded: ManifestEntry[] = [];
    const stream = packTar(root, entries, { warn, onEntry: (e) => recorded.push(e), onBytes: ctx.onBytes });
    return {
      stream,
      suffix: ".tar",
      estimatedBytes,
      finish: async (): Promise<FilesManifest> => ({
        type: "files",
        path: root,
        object: "",
        files: recorded.filter((e) => e.type === "file").length,
        bytes: recorded.reduce((n, e) => n + e.size, 0),
        entries: recorded,
        warnings,
      }),
    };
  }

  private check(manifest: SourceManifest, seen: ExtractedFile[]): Check[] {
    if (manifest.type !== "files") throw new StrongboxError("VERIFY", `source ${this.name}: manifest is not a files manifest`);
    const detail = describeDiff(diffTree(manifest.entries, seen));
    return [{ name: `${this.name}: files match the manifest`, ok: !detail, detail: detail ?? `${manifest.entries.length} entries, ${manifest.files} files` }];
  }

  async restore(data: Readable, target: RestoreTarget, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    if (!target.dir) throw new StrongboxError("USAGE", `source ${this.name}: restoring files needs --to-dir`);
    const seen: ExtractedFile[] = [];
    await extractTar(data, target.dir, { onEntry: (e) => seen.push(e), onBytes: ctx.onBytes, keepSetuid: target.keepSetuid, warn: (m) => ctx.log.warn(`${this.name}: ${m}`) });
    return this.check(manifest, seen);
  }

  async verify(data: Readable, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    const seen: ExtractedFile[] = [];
    await scanTar(data, { onEntry: (e) => seen.push(e), onBytes: ctx.onBytes, warn: (m) => ctx.log.warn(`${this.name}: ${m}`) });
    return this.check(manifest, seen);
  }
}
