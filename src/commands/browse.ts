import { setImmediate as yieldNow } from "node:timers/promises";
import { compilePattern } from "../browse/pattern.js";
import {
  diffEntries,
  entriesUnder,
  filesManifest,
  normalisePath,
  openRecord,
  openTree,
  type BrowseEntry,
  type OpenedTree,
  type TreeChange,
} from "../browse/tree.js";
import { dumpFile } from "../browse/dump.js";
import { StrongboxError } from "../errors.js";
import { formatBytes } from "../progress.js";
import { checkBackupRef, Repository, unusable, warnSkipped } from "../repository/repository.js";
import { repositoryOptions } from "../repository/options.js";
import { openStore } from "../stores/open-store.js";
import { oneCell, rowPath } from "../terminal-safe.js";
import type { CommandContext } from "./context.js";
import { withInterrupt } from "./interrupt.js";
import { parseAt } from "./restore.js";

/** --json results hold at most this many rows (a forged manifest may list millions); `truncated` says so. */
export const MAX_JSON_ROWS = 100_000;

/** Rows printed as they come (text), or gathered for the one --json document, up to MAX_JSON_ROWS. */
export class Rows<T> {
  readonly rows: T[] = [];
  count = 0;
  constructor(
    private readonly ctx: CommandContext,
    private readonly line: (row: T) => string,
  ) {}

  /**
   * Prints or keeps a row. When the reader of the text is behind (a full pipe: `ls | less`), returns a
   * promise that settles once it has taken the output so far: the caller awaits it, so memory holds one
   * pipe's worth of rows however many a forged manifest lists, not all of them.
   */
  add(row: T): Promise<void> | undefined {
    this.count++;
    // One row, one line: a forged name's newline or tab must not forge a row or a column.
    if (!this.ctx.json) {
      if (!this.ctx.stdout.write(`${oneCell(this.line(row))}\n`)) return drained(this.ctx.stdout);
    } else if (this.rows.length < MAX_JSON_ROWS) this.rows.push(row);
    return undefined;
  }

  get truncated(): boolean {
    return this.count > this.rows.length && this.ctx.json;
  }
}

/** Once the stream has taken what it holds (or has ended: a reader gone ends the run, in cli.ts). */
function drained(s: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const e of ["drain", "close", "error"]) s.off(e, done);
      resolve();
    };
    for (const e of ["drain", "close", "error"]) s.on(e, done);
  });
}

async function reader(ctx: CommandContext): Promise<Repository> {
  const config = ctx.config();
  return new Repository(await openStore(config, "reader"), repositoryOptions(config));
}

/** How a named backup's trust is judged: --allow-unsigned reads an untrusted one, with a warning. */
const trustOf = (ctx: CommandContext, o: { allowUnsigned?: boolean } = {}) => ({
  allowUntrusted: o.allowUnsigned,
  warn: (m: string) => ctx.log.warn(m),
});

/** A manifest mtime ("1733390000.5") as an ISO time to the second. */
export function mtimeIso(mtime: string): string {
  const ms = Math.floor(Number(mtime)) * 1000;
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString().replace(".000Z", "Z") : mtime;
}

const modeText = (e: BrowseEntry) => e.mode.toString(8).padStart(4, "0");
const typeText = (e: BrowseEntry) => (e.type === "symlink" ? "link" : e.type);
/** Where `restore --to-dir DIR` puts it: DIR/<source>/<path>. */
const shownPath = (e: BrowseEntry) =>
  `${rowPath(`${e.source}/${e.path}`)}${e.type === "symlink" ? ` -> ${rowPath(e.target ?? "")}` : ""}`;

export async function lsCommand(
  ctx: CommandContext,
  ref: string,
  path: string | undefined,
  o: { source?: string; long?: boolean; allowUnsigned?: boolean },
): Promise<void> {
  checkBackupRef(ref);
  const under = normalisePath(path);
  const repo = await reader(ctx);
  const tree = await openTree(repo, ref, await ctx.identities(), { source: o.source, trust: trustOf(ctx, o) });
  const rows = new Rows<BrowseEntry>(ctx, (e) =>
    [
      typeText(e).padEnd(4),
      modeText(e),
      String(e.size).padStart(12),
      mtimeIso(e.mtime),
      ...(o.long ? [e.sha256 ?? "-".padEnd(64)] : []),
      shownPath(e),
    ].join("  "),
  );
  try {
    for (const source of tree.sources)
      for (const e of entriesUnder(tree, source, under)) await rows.add(o.long ? e : { ...e, sha256: undefined });
  } finally {
    tree.close();
  }
  if (under && rows.count === 0)
    throw new StrongboxError("NOT_FOUND", `backup ${tree.rec.id} holds no ${JSON.stringify(under)}`);
  if (ctx.json) ctx.print({ id: tree.rec.id, entries: rows.rows, count: rows.count, truncated: rows.truncated }, "");
}

/** find: entries matched between two turns of the event loop (a signal, the output). */
const YIELD_EVERY = 4096;

export async function findCommand(
  ctx: CommandContext,
  pattern: string,
  o: { source?: string; since?: string; until?: string },
): Promise<void> {
  const match = compilePattern(pattern);
  // A date alone: from the start of that day (UTC) for --since, to its end for --until.
  const since =
    o.since === undefined
      ? undefined
      : new Date(parseAt(o.since, "--since").getTime() - (/^\d{4}-\d{2}-\d{2}$/.test(o.since) ? 86_399_999 : 0));
  const until = o.until === undefined ? undefined : parseAt(o.until, "--until");
  const repo = await reader(ctx);
  const identities = await ctx.identities();
  type Hit = BrowseEntry & { id: string };
  const rows = new Rows<Hit>(ctx, (h) =>
    [h.id, typeText(h).padEnd(4), String(h.size).padStart(12), mtimeIso(h.mtime), shownPath(h)].join("  "),
  );
  let searched = 0;
  const skipped: { id: string; reason: string }[] = [];
  await withInterrupt(ctx.log, async (signal) => {
    let seen = 0;
    for (const b of await repo.listBackups()) {
      if (!b.complete || (since && b.time < since) || (until && b.time > until)) continue;
      if (o.source !== undefined && !b.complete.sources.some((s) => s.name === o.source && s.type === "files"))
        continue;
      const why = unusable(b);
      if (why) {
        skipped.push({ id: b.id, reason: why });
        continue;
      }
      signal.throwIfAborted();
      // One manifest at a time, its entries streamed from its spool and freed before the next.
      const tree = await openRecord(repo, b.complete, identities, o.source);
      searched++;
      try {
        for (const source of tree.sources)
          for (const e of entriesUnder(tree, source)) {
            if (match.matches(e.path)) await rows.add({ id: b.id, ...e });
            // The entries are read synchronously: let Ctrl-C (and the output) through now and then.
            if (++seen % YIELD_EVERY === 0) {
              await yieldNow();
              signal.throwIfAborted();
            }
          }
      } finally {
        tree.close();
      }
    }
  });
  warnSkipped((m) => ctx.log.warn(m), skipped);
  if (ctx.json) ctx.print({ pattern, searched, matches: rows.rows, count: rows.count, truncated: rows.truncated }, "");
  else if (rows.count === 0) ctx.log.info(`no path matches ${JSON.stringify(pattern)} in ${searched} backup(s)`);
}

function changeLine(c: TreeChange): string {
  const size = (e?: BrowseEntry) => (e ? formatBytes(e.size) : "");
  const path = rowPath(`${c.source}/${c.path}`);
  if (c.change === "added") return `+ ${path} (${typeText(c.after!)}, ${size(c.after)})`;
  if (c.change === "removed") return `- ${path} (${typeText(c.before!)}, ${size(c.before)})`;
  if (c.change === "type-changed") return `T ${path} (${typeText(c.before!)} -> ${typeText(c.after!)})`;
  return `M ${path} (${size(c.before)} -> ${size(c.after)})`;
}

export async function diffCommand(
  ctx: CommandContext,
  ref1: string,
  ref2: string,
  o: { source?: string; allowUnsigned?: boolean },
): Promise<void> {
  checkBackupRef(ref1);
  checkBackupRef(ref2);
  const repo = await reader(ctx);
  const identities = await ctx.identities();
  const trees: OpenedTree[] = [];
  const totals = { added: 0, removed: 0, modified: 0, "type-changed": 0 };
  const rows = new Rows<TreeChange>(ctx, changeLine);
  try {
    for (const ref of [ref1, ref2])
      trees.push(await openTree(repo, ref, identities, { source: o.source, trust: trustOf(ctx, o) }));
    const [a, b] = trees;
    const none: never[] = [];
    for (const source of [...new Set([...a.sources, ...b.sources])].sort()) {
      const before = a.sources.includes(source) ? filesManifest(a, source).entries : none;
      const after = b.sources.includes(source) ? filesManifest(b, source).entries : none;
      for (const c of diffEntries(source, before, after)) {
        totals[c.change]++;
        await rows.add(c);
      }
    }
  } finally {
    for (const t of trees) t.close();
  }
  const [from, to] = trees.map((t) => t.rec.id);
  const summary = `${from} -> ${to}: ${totals.added} added, ${totals.removed} removed, ${totals.modified} modified, ${totals["type-changed"]} type-changed`;
  ctx.print({ from, to, ...totals, changes: rows.rows, truncated: rows.truncated }, summary);
}

export async function dumpCommand(
  ctx: CommandContext,
  ref: string,
  source: string,
  path: string,
  o: { allowUnsigned?: boolean } = {},
): Promise<void> {
  checkBackupRef(ref);
  if (ctx.json) throw new StrongboxError("USAGE", "dump writes the file itself to stdout: --json does not apply");
  const repo = await reader(ctx);
  const identities = await ctx.identities();
  const tree = await openTree(repo, ref, identities, { source, trust: trustOf(ctx, o) });
  const stdout = ctx.stdout;
  const out = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      stdout.write(chunk, (err) =>
        err ? reject(new StrongboxError("SOURCE", `cannot write to stdout: ${err.message}`)) : resolve(),
      );
    });
  try {
    await withInterrupt(ctx.log, (signal) =>
      dumpFile({ repo, tree, source, path, identities, config: ctx.config(), log: ctx.log, out, signal }),
    );
  } finally {
    tree.close();
  }
}
