import { loadSchedule } from "../scheduler/schedule-file.js";
import type { CommandContext } from "./context.js";

export async function configCheckCommand(ctx: CommandContext, o: { schedule?: string } = {}): Promise<void> {
  const cfg = ctx.config();
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
  const scheduleText = schedule ? `; schedule ${o.schedule}: OK (${schedule.jobs.length} job${schedule.jobs.length === 1 ? "" : "s"})` : "";
  ctx.print(summary, `${ctx.configFile}: OK (${cfg.sources.length} source${cfg.sources.length === 1 ? "" : "s"}: ${cfg.sources.map((s) => s.name).join(", ")}; repository ${cfg.repository.url})${scheduleText}`);
}
