import { identityFileProblem, lockDirProblem } from "../config/local-paths.js";
import { unresolvedValues } from "../config/deferred.js";
import { ConfigError } from "../errors.js";
import { loadSchedule } from "../scheduler/schedule-file.js";
import type { CommandContext } from "./context.js";
import { signingKeyWarning } from "./doctor-signing.js";

export async function configCheckCommand(ctx: CommandContext, o: { schedule?: string } = {}): Promise<void> {
  const cfg = ctx.config();
  // Paths the runs will need: a typo here would otherwise only show at 2 a.m. (or never, for the lock).
  const problems = [
    // Values this host cannot resolve: each stops only the commands that use it, but a check names them all.
    ...unresolvedValues(cfg).map((u) => `${u.problem} (needed by ${u.needed_by})`),
    ...(cfg.lock_dir ? [lockDirProblem(cfg.lock_dir)].filter(Boolean).map((p) => `lock_dir: ${p}`) : []),
    ...(cfg.encryption.identity_file
      ? [identityFileProblem(cfg.encryption.identity_file)].filter(Boolean).map((p) => `encryption.identity_file: ${p}`)
      : []),
  ];
  let signingWarning: string | undefined;
  try {
    signingWarning = signingKeyWarning(cfg);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length) throw new ConfigError(problems);
  if (signingWarning) ctx.log.warn(signingWarning);
  // A schedule file is checked against the config (its jobs name the config's sources), without running anything.
  const schedule = o.schedule ? loadSchedule(o.schedule, cfg) : undefined;
  const summary = {
    ok: true,
    config: ctx.configFile,
    repository: cfg.repository.url,
    sources: cfg.sources.map((s) => ({ name: s.name, type: s.type })),
    recipients: cfg.encryption.recipients.length,
    compression: cfg.compression,
    ...(schedule ? { schedule: { file: o.schedule, jobs: schedule.jobs.map((j) => j.name) } } : {}),
  };
  const scheduleText = schedule
    ? `; schedule ${o.schedule}: OK (${schedule.jobs.length} job${schedule.jobs.length === 1 ? "" : "s"})`
    : "";
  ctx.print(
    summary,
    `${ctx.configFile}: OK (${cfg.sources.length} source${cfg.sources.length === 1 ? "" : "s"}: ${cfg.sources.map((s) => s.name).join(", ")}; repository ${cfg.repository.url})${scheduleText}`,
  );
}
