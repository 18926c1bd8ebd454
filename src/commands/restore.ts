import { promises as fsp } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { StrongboxError } from "../errors.js";
import { commitStaging, createStaging, discardStaging, sweepPartials, type Staging } from "../pipeline/restore-target.js";
import { forEachSource } from "../pipeline/run-restore.js";
import { commitAll, recoverSwap, swapPending } from "../pipeline/restore-swap.js";
import { checkBackupRef, Repository } from "../repository/repository.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { withInterrupt } from "./interrupt.js";
import { runJob } from "./job.js";
import { repositoryOptions } from "../repository/options.js";
import { restoreScript } from "../restore/print-script.js";

async function isEmptyDir(dir: string): Promise<boolean> {
  // lstat: the swap at the end renames a real directory; a file or symlink there must fail now, not after extracting.
  const st = await fsp.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (!st) return true;
  if (!st.isDirectory()) throw new StrongboxError("USAGE", `${dir} exists and is not a directory`);
  return (await fsp.readdir(dir)).length === 0;
}

export async function restoreCommand(
  ctx: CommandContext,
  ref: string,
  o: { source: string[]; toDir?: string; toDb?: string; force?: boolean; owner?: boolean; jobs?: string; keepSetuid?: boolean; allowUnsigned?: boolean; printScript?: boolean },
): Promise<void> {
  const jobs = o.jobs === undefined ? 1 : Number(o.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new StrongboxError("USAGE", `--jobs must be a whole number from 1 to 64, not '${o.jobs}'`);
  checkBackupRef(ref);
  if (o.toDb?.startsWith("env:")) {
    // Keeps the target's password out of strongbox's own argv (visible in ps).
    const name = o.toDb.slice(4);
    const value = ctx.env[name];
    if (!value) throw new StrongboxError("USAGE", `--to-db env:${name}: environment variable ${name} is not set`);
    o = { ...o, toDb: value };
  }
  const config = ctx.config();
  if (o.printScript) {
    // Restores nothing: prints the steps to restore by hand (src/restore/print-script.ts).
    if (o.toDir || o.toDb || o.force) throw new StrongboxError("USAGE", "--print-script restores nothing: set TARGET (and TARGET_URL) in the script's environment instead of --to-dir, --to-db or --force");
    const repo = new Repository(await openStore(config, "reader"), repositoryOptions(config));
    const trust = { allowUntrusted: o.allowUnsigned, warn: (m: string) => ctx.log.warn(m) };
    const rec = await repo.resolve(ref, o.source, trust);
    const picks = (o.source.length ? o.source : rec.sources.map((s) => s.name)).map((source) => ({ source, rec }));
    const identityFile = config.encryption.identity_file && resolve(config.encryption.identity_file);
    const script = await restoreScript(repo, picks, { identityFile, trustedKeys: (config.signing?.trusted ?? []).map((t) => t.key), repository: repo.store.description, trust });
    if (ctx.json) ctx.print({ id: rec.id, sources: picks.map((p) => p.source), script }, "");
    else ctx.stdout.write(script);
    return;
  }
  if (!o.toDir && !o.toDb) throw new StrongboxError("USAGE", "restore needs a target: --to-dir DIR (files) and/or --to-db URL (databases)");
  const identities = await ctx.identities();
  const repo = new Repository(await openStore(config, "reader"), repositoryOptions(config));
  const rec = await repo.resolve(ref, o.source, { allowUntrusted: o.allowUnsigned, warn: (m) => ctx.log.warn(m) });
  const manifest = await repo.readManifest(rec, identities);
  const chosen = o.source.length ? o.source : rec.sources.map((s) => s.name);
  const targets = new Map<string, string>();
  const dbSources: string[] = [];
  for (const name of chosen) {
    const type = rec.sources.find((s) => s.name === name)?.type;
    if (type === "files") {
      if (!o.toDir) throw new StrongboxError("USAGE", `source ${name} holds files: give --to-dir DIR (or leave it out with --source)`);
      const dir = join(resolve(o.toDir), name);
      // With a killed restore's journal there, the check waits until that restore is completed or undone.
      if (!(await isEmptyDir(dir)) && !o.force && !(await swapPending(dirname(dir)))) throw new StrongboxError("USAGE", `${dir} is not empty; refusing to restore over it without --force`);
      targets.set(name, dir);
    } else if (type === "postgres") {
      if (!o.toDb) throw new StrongboxError("USAGE", `source ${name} is a database: give --to-db URL (or leave it out with --source)`);
      dbSources.push(name);
    }
  }
  if (dbSources.length > 1) throw new StrongboxError("USAGE", `backup ${rec.id} holds ${dbSources.length} databases (${dbSources.join(", ")}): restore them one at a time with --source`);
  ctx.log.info(`restoring backup ${rec.id}`, { sources: chosen });
  const staging = new Map<string, Staging>();
  const restoreAll = () =>
    withInterrupt(ctx.log, async (signal) => {
      for (const dir of new Set([...targets.values()].map((d) => dirname(d)))) {
        await recoverSwap(dir, ctx.log); // a killed restore's half-done swap: finished (or undone) first
        await sweepPartials(dir, ctx.log);
      }
      // The sweep may have put back a tree that a killed --force restore had set aside.
      for (const dir of targets.values()) if (!(await isEmptyDir(dir)) && !o.force) throw new StrongboxError("USAGE", `${dir} is not empty; refusing to restore over it without --force`);
      for (const [name, dir] of targets) staging.set(name, await createStaging(dir, name, rec.id));
      return forEachSource({
        repo,
        rec,
        manifest,
        identities,
        config,
        only: chosen,
        log: ctx.log,
        label: "restore",
        signal,
        consume: (source, data) =>
          source.restore(
            data,
            { dir: staging.get(source.name)?.dir, dbUrl: o.toDb, force: Boolean(o.force), noOwner: o.owner === false, jobs, keepSetuid: Boolean(o.keepSetuid) },
            manifest.sources[source.name],
            { log: ctx.log },
          ),
      });
    });
  let outcomes!: Awaited<ReturnType<typeof forEachSource>>;
  try {
    await runJob(
      ctx,
      "restore",
      "restore",
      async () => {
        outcomes = await restoreAll();
        const bad = outcomes.flatMap((x) => x.checks.filter((c) => !c.ok));
        // Only a tree that matched its manifest replaces anything; otherwise nothing of it stays.
        // Every source's tree at once, or a journal that the next restore completes (restore-swap.ts).
        if (!bad.length) await commitAll([...staging.values()], rec.id, commitStaging);
        return { backup_id: rec.id, summary: `restore of ${rec.id}: ${bad.length ? "MISMATCH" : "ok"}`, failed: bad.length > 0 };
      },
      { notify: false },
    );
  } finally {
    for (const s of staging.values()) await discardStaging(s);
  }
  const failed = outcomes.flatMap((x) => x.checks.filter((c) => !c.ok));
  const result = { id: rec.id, ok: failed.length === 0, sources: outcomes.map((x) => ({ ...x, target: targets.get(x.source) ?? o.toDb })) };
  ctx.print(result, () =>
    outcomes.map((x) => `${x.source} → ${targets.get(x.source) ?? "database"}: ${x.checks.every((c) => c.ok) ? "restored and checked" : "MISMATCH"} (${x.checks.map((c) => c.detail).join("; ")})`).join("\n"),
  );
  if (failed.length) throw new StrongboxError("VERIFY", `restored data does not match the manifest (nothing of it was kept): ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`);
}
