import { lstatSync, promises as fsp } from "node:fs";
import type { Readable } from "node:stream";
import { diskSink } from "../archive/extract.js";
import { makeExcluder } from "../archive/glob.js";
import { packTar, type FileIdentity, type ManifestEntry } from "../archive/tar-pack.js";
import { countTree } from "../archive/tree-size.js";
import {
  mtimeInRange,
  mtimeString,
  outOfRange,
  walkEntries,
  walkTree,
  type Skipped,
  type WalkEntry,
} from "../archive/walk.js";
import type { FilesSourceConfig } from "../config/schema.js";
import { parseDuration } from "../config/duration.js";
import { planDifferential, stateDirs, stateEntries, type DiffPlan } from "../differential/plan.js";
import { loadState } from "../differential/state.js";
import { commitFullState } from "../differential/state-commit.js";
import { StrongboxError } from "../errors.js";
import { reasonOf } from "../system-error.js";
import { EntrySpool } from "../repository/entry-spool.js";
import type { FilesManifest, SourceManifest } from "../repository/manifest.js";
import { nullSink, readTree, type TreeSink } from "../archive/tree-pass.js";
import { selectSink } from "../archive/select-sink.js";
import { describeDiff } from "./tree-check.js";
import {
  configToBackUp,
  type Check,
  type JobContext,
  type Layers,
  type RestoreTarget,
  type Source,
  type SourceArtifact,
  type StoredSourceSettings,
} from "./source.js";

/** Warnings a manifest lists; beyond them it says how many more the log holds. */
const MAX_WARNINGS = 1000;
/** Unreadable paths a manifest lists by name (`skipped`); `unreadable` counts them all. */
const MAX_SKIPPED = 1000;
/** Paths an error or a summary names; the count says how many there are. */
const NAMED = 5;

/** "a, b, c and 7 more": the first paths of a list, and how many it holds. */
export function namePaths(paths: string[], total: number): string {
  const shown = paths.slice(0, NAMED).join(", ");
  return total > Math.min(paths.length, NAMED) ? `${shown} and ${total - Math.min(paths.length, NAMED)} more` : shown;
}

/**
 * How many warnings a manifest reports: the ones it lists, and the "… and N more" line for those
 * beyond MAX_WARNINGS. A file that vanished while a differential read it is one of them.
 */
function warningCount(warnings: string[]): number {
  const more = /^… and (\d{1,15}) more warnings/.exec(warnings.at(-1) ?? "");
  return more ? warnings.length - 1 + Number(more[1]) : warnings.length;
}

export class FilesSource implements Source {
  readonly type = "files" as const;
  readonly name: string;

  constructor(private readonly cfg: FilesSourceConfig | StoredSourceSettings) {
    this.name = cfg.name;
  }

  private get conf(): FilesSourceConfig {
    return configToBackUp(this.cfg, this.name);
  }

  async backup(ctx: JobContext): Promise<SourceArtifact> {
    const root = this.conf.path;
    const st = await fsp.stat(root).catch((err: NodeJS.ErrnoException) => {
      throw new StrongboxError(
        "SOURCE",
        `source ${this.name}: cannot read ${root}: ${err.code === "ENOENT" ? "no such directory (ENOENT)" : reasonOf(err)}`,
      );
    });
    if (!st.isDirectory()) throw new StrongboxError("SOURCE", `source ${this.name}: ${root} is not a directory`);
    const warnings: string[] = [];
    let unlisted = 0;
    const skipped: string[] = [];
    const tally = { unreadable: 0, changed: 0 };
    const warn = (msg: string, what?: Skipped) => {
      // A tree of millions of unreadable files must not grow the manifest without bound: the log has them all.
      if (warnings.length < MAX_WARNINGS) warnings.push(msg);
      else unlisted++;
      if (what?.kind === "unreadable") {
        tally.unreadable++;
        if (skipped.length < MAX_SKIPPED) skipped.push(what.path);
      } else if (what?.kind === "changed") tally.changed++;
      ctx.log.warn(`${this.name}: ${msg}`);
    };
    const partial = this.conf.on_unreadable === "partial";
    const walk = { exclude: makeExcluder(this.conf.exclude), oneFileSystem: this.conf.one_file_system, warn };
    const tracked = Boolean(this.conf.differential && ctx.differential);
    // A differential is planned against the whole tree; a full streams it (its size, for the ETA, is counted beside it).
    const listed = tracked ? await walkTree(root, walk) : undefined;
    const plan = listed ? await this.choose(listed, ctx) : undefined;
    let estimatedBytes: number | undefined = plan?.changedBytes;
    if (listed && !plan) estimatedBytes = listed.reduce((n, e) => n + e.size, 0);
    const stats = new Map<string, FileIdentity>();
    const entries = new EntrySpool<ManifestEntry>();
    /** A full of a differential source becomes the next base: its entries are kept for the state. */
    const kept: ManifestEntry[] | undefined = tracked && !plan ? [] : undefined;
    const count = { files: 0, bytes: 0, storedFiles: 0, storedBytes: 0 };
    const rootStat = lstatSync(root, { bigint: true });
    if (!mtimeInRange(rootStat)) throw new StrongboxError("SOURCE", `source ${this.name}: ${outOfRange(root)}`); // no backup could restore it
    // The root directory itself, first in every archive ("./"): a restore sets its mtime last.
    const rootEntry = {
      path: ".",
      type: "dir" as const,
      size: 0,
      mode: Number(rootStat.mode & 0o7777n),
      uid: Number(rootStat.uid),
      gid: Number(rootStat.gid),
      mtime: mtimeString(rootStat),
    };
    // A full that streams its tree has its size counted on a worker thread, while it is archived
    // (started last: nothing below throws before the caller holds it, and stops it).
    const laterEstimate = listed
      ? undefined
      : countTree(root, { exclude: this.conf.exclude, oneFileSystem: this.conf.one_file_system });
    const stream = packTar(root, listed ?? walkEntries(root, walk), {
      warn,
      // By default a path that could not be read fails the source: the archive is never finished, so nothing of it is stored.
      beforeEnd: () => {
        if (tally.unreadable && !partial) {
          throw new StrongboxError(
            "SOURCE",
            `source ${this.name}: ${tally.unreadable} path(s) could not be read: ${namePaths(skipped, tally.unreadable)}; nothing of this source was stored (fix the permissions, or set on_unreadable: partial to commit what can be read)`,
          );
        }
      },
      onEntry: (e, stat) => {
        entries.push(e);
        kept?.push(e);
        if (e.type === "file") {
          count.files++;
          count.bytes += e.size;
          if (!plan?.unchanged.has(e.path)) {
            count.storedFiles++;
            count.storedBytes += e.size;
          }
        }
        if (tracked && stat) stats.set(e.path, stat);
      },
      onBytes: ctx.onBytes,
      root: rootEntry,
      ...(plan
        ? {
            diff: {
              root: rootEntry,
              dumpdirs: plan.dumpdirs,
              unchanged: plan.unchanged,
            },
          }
        : {}),
    });
    const manifestOf = (): FilesManifest => ({
      type: "files",
      path: root,
      object: "",
      files: count.files,
      bytes: count.bytes,
      entries,
      warnings: unlisted ? [...warnings, `… and ${unlisted} more warnings (the log has every one)`] : warnings,
      ...(plan ? { base: plan.base.full_id, stored_files: count.storedFiles, stored_bytes: count.storedBytes } : {}),
      // on_unreadable: partial: what was left out, so that a reader knows the tree is not whole.
      ...(tally.unreadable ? { unreadable: tally.unreadable, skipped } : {}),
      ...(tally.changed ? { changed: tally.changed } : {}),
    });
    return {
      stream,
      suffix: ".tar",
      estimatedBytes,
      ...(laterEstimate ? { laterEstimate } : {}),
      ...(plan ? { base: { id: plan.base.full_id, objects: plan.base.full_objects.map((o) => o.key) } } : {}),
      finish: async (): Promise<FilesManifest> => {
        // An empty tree is a backup of nothing: most often a share that is not mounted. Said, not failed.
        if (count.files === 0) warn(`holds no regular files (${root}): is its file system mounted?`);
        return manifestOf();
      },
      ...(tracked && !plan
        ? {
            commit: (b: { id: string; started_at: string; objects: string[] }) => {
              const file = commitFullState(ctx.differential!.owner, {
                source: this.name,
                path: root,
                full_id: b.id,
                full_started_at: b.started_at,
                full_objects: b.objects.map((key) => ({ key })),
                bytes: count.bytes,
                entries: stateEntries(kept!, stats),
                dirs: stateDirs(kept!),
              });
              ctx.log.info(`${this.name}: full ${b.id} is now the base of differentials`, { state: file });
            },
          }
        : {}),
    };
  }

  /** A differential if the state allows one, else undefined (a full), with a log line that says why. */
  private async choose(entries: WalkEntry[], ctx: JobContext): Promise<DiffPlan | undefined> {
    const d = ctx.differential!;
    const fullEvery = this.conf.differential!.full_every;
    const decide = async (): Promise<{ plan: DiffPlan } | { plan?: undefined; why: string }> => {
      if (d.forceFull) return { why: "--full was given" };
      const load = loadState(d.owner, this.name, this.conf.path);
      if (!load.state) return { why: load.why };
      if (d.baseExists && !(await d.baseExists(load.state.full_id)))
        return { why: `the last full ${load.state.full_id} is no longer in the repository` };
      if (d.now.getTime() - Date.parse(load.state.full_started_at) >= parseDuration(fullEvery)!) {
        return { why: `full_every (${fullEvery}) has passed since the last full ${load.state.full_id}` };
      }
      const planned = planDifferential(entries, load.state);
      if (planned.plan && d.protectBase) {
        try {
          await d.protectBase(load.state.full_objects.map((o) => o.key));
        } catch (err) {
          return {
            why: `the Object Lock retention of base ${load.state.full_id} cannot be extended (${(err as Error).message.split("\n")[0]})`,
          };
        }
      }
      return planned;
    };
    const r = await decide();
    if (r.plan) {
      ctx.log.info(
        `${this.name}: differential on base ${r.plan.base.full_id}: ${r.plan.changedFiles} new or changed, ${r.plan.unchanged.size} unchanged`,
        {
          base: r.plan.base.full_id,
          files_changed: r.plan.changedFiles,
          bytes_changed: r.plan.changedBytes,
        },
      );
      return r.plan;
    }
    ctx.log.info(`${this.name}: full backup: ${r.why}`, { reason: r.why });
    return undefined;
  }

  private manifestOf(manifest: SourceManifest): FilesManifest {
    if (manifest.type !== "files")
      throw new StrongboxError("VERIFY", `source ${this.name}: manifest is not a files manifest`);
    return manifest;
  }

  /**
   * Restore, verify and drill: ONE pass (archive/tree-pass.ts) that only the sink tells apart. A
   * full is read and matched against the streamed manifest as it goes; a differential and its base
   * full are read side by side and merged into one tree, with one namespace and one match, so
   * memory stays bounded whatever the number of entries, and verify reaches restore's verdict.
   * Public for the sinks of browse/ (dump): the same pass, the same checks.
   */
  async read(layers: Layers, manifest: SourceManifest, sink: () => TreeSink, ctx: JobContext): Promise<Check[]> {
    const m = this.manifestOf(manifest);
    const pass = (archive: Readable, base?: Readable) =>
      readTree({
        archive,
        ...(base ? { base, baseName: `base ${layers.base!.id}` } : {}),
        expected: m.entries,
        sink: sink(),
        onBytes: ctx.onBytes,
        vanishedAllowance: warningCount(m.warnings),
      });
    if (layers.withoutBase !== undefined) return this.readSelection(layers, m, sink, ctx);
    if (!layers.base) {
      const r = await layers.read((data) => pass(data));
      const detail = describeDiff(r.tree!);
      return [
        {
          name: `${this.name}: files match the manifest`,
          ok: !detail,
          detail: detail ?? `${m.entries.length} entries, ${m.files} files`,
        },
      ];
    }
    const base = layers.base;
    // The base is opened first (a missing or damaged base is named as such), then the differential beside it.
    const r = await base.read((baseData) => layers.read((data) => pass(data, baseData)));
    const tree = describeDiff(r.tree!);
    const dumps = r.dumpdirs!.problems.length ? r.dumpdirs!.problems.join("; ") : undefined;
    return [
      {
        name: `${this.name}: files match the manifest (base ${base.id} + differential)`,
        ok: !tree,
        detail:
          tree ?? `${m.entries.length} entries, ${m.files} files, ${m.stored_files} of them from the differential`,
      },
      {
        name: `${this.name}: directory listings match the manifest (hand restore with GNU tar)`,
        ok: !dumps,
        detail: dumps ?? `${r.dumpdirs!.directories} directories`,
      },
    ];
  }

  /**
   * A differential's selection read from its own object alone (its base left unread): the selected
   * entries, and only they, matched against the manifest, each file's SHA-256 checked as it is written.
   */
  private async readSelection(
    layers: Layers,
    m: FilesManifest,
    sink: () => TreeSink & { selects?: (path: string) => boolean },
    ctx: JobContext,
  ): Promise<Check[]> {
    const made = sink();
    const only = made.selects;
    if (!only) throw new Error(`source ${this.name}: a differential without its base needs a selection`);
    const expected = (function* () {
      for (const e of m.entries) if (e.path !== "." && only(e.path)) yield e;
    })();
    const r = await layers.read((archive) => readTree({ archive, expected, sink: made, onBytes: ctx.onBytes, only }));
    const detail = describeDiff(r.tree!);
    return [
      {
        name: `${this.name}: the selected entries match the manifest (differential alone: base ${layers.withoutBase} not needed)`,
        ok: !detail,
        detail: detail ?? "every selected entry found and checked",
      },
    ];
  }

  async restore(layers: Layers, target: RestoreTarget, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    const dir = target.dir;
    if (!dir) throw new StrongboxError("USAGE", `source ${this.name}: restoring files needs --to-dir`);
    const warn = (m: string) => ctx.log.warn(`${this.name}: ${m}`);
    const disk = () => diskSink(dir, { keepSetuid: target.keepSetuid, warn });
    // --include/--exclude: the whole tree is read and checked, only the selected entries are written.
    const select = target.select;
    return this.read(layers, manifest, select ? () => selectSink(disk(), select) : disk, ctx);
  }

  async verify(layers: Layers, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    return this.read(layers, manifest, () => nullSink, ctx);
  }
}
