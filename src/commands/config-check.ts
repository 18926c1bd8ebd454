import type { CommandContext } from "./context.js";

export async function configCheckCommand(ctx: CommandContext): Promise<void> {
  const cfg = ctx.config();
  const summary = {
    ok: true,
    config: ctx.configFile,
    repository: cfg.repository.url,
    sources: cfg.sources.map((s) => ({ name: s.name, type: s.type })),
    recipients: cfg.encryption.recipients.length,
    compression: cfg.compression,
  };
  ctx.print(summary, `${ctx.configFile}: OK (${cfg.sources.length} source${cfg.sources.length === 1 ? "" : "s"}: ${cfg.sources.map((s) => s.name).join(", ")}; repository ${cfg.repository.url})`);
}
