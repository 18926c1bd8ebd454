import { formatBytes } from "../progress.js";
import { Repository } from "../repository/repository.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";

export async function listCommand(ctx: CommandContext, o: { all?: boolean }): Promise<void> {
  const repo = new Repository(openStore(ctx.config(), "reader"));
  const backups = (await repo.listBackups()).filter((b) => o.all || b.complete);
  const drills = await repo.lastDrills();
  const rows = backups.map((b) => ({
    id: b.id,
    time: b.complete?.started_at ?? b.time.toISOString(),
    complete: Boolean(b.complete),
    ...(b.damaged ? { damaged: b.damaged } : {}),
    size: b.complete ? b.complete.objects.reduce((n, x) => n + x.size, 0) : b.objects.reduce((n, x) => n + x.size, 0),
    sources: b.complete ? b.complete.sources.map((s) => s.name) : [],
    warnings: b.complete?.warnings ?? 0,
    last_drill: drills.get(b.id) ?? null,
  }));
  ctx.print(rows, () => {
    if (rows.length === 0) return "no backups";
    const head = ["ID", "TIME", "SIZE", "SOURCES", "DRILL"];
    const table = rows.map((r) => [
      r.complete ? r.id : r.damaged ? `${r.id} (DAMAGED)` : `${r.id} (incomplete)`,
      r.time.replace(/\.\d+Z$/, "Z"),
      formatBytes(r.size),
      r.sources.join(",") || "-",
      r.last_drill?.result ?? "-",
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    return [head, ...table].map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
  });
}
