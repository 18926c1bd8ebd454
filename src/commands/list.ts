import { formatBytes } from "../progress.js";
import { Repository } from "../repository/repository.js";
import { trustPolicy } from "../crypto/signing.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { countLeftovers } from "./leftovers.js";

export async function listCommand(ctx: CommandContext, o: { all?: boolean }): Promise<void> {
  const store = await openStore(ctx.config(), "reader");
  const repo = new Repository(store, trustPolicy(ctx.config()));
  // Damaged backups (an untrustworthy complete.json) are always shown: they need an operator's eye.
  const backups = (await repo.listBackups()).filter((b) => o.all || b.complete || b.damaged);
  const drills = await repo.lastDrills();
  const rows = backups.map((b) => ({
    id: b.id,
    time: b.complete?.started_at ?? b.time.toISOString(),
    host: b.complete?.host ?? null,
    complete: Boolean(b.complete),
    ...(b.damaged ? { damaged: b.damaged } : {}),
    ...(b.untrusted?.length ? { untrusted: b.untrusted } : {}),
    ...(b.signedBy ? { signed_by: b.signedBy } : {}),
    ...(b.trustNote ? { trust_note: b.trustNote } : {}),
    size: b.complete ? b.complete.objects.reduce((n, x) => n + x.size, 0) : b.objects.reduce((n, x) => n + x.size, 0),
    sources: b.complete ? b.complete.sources.map((s) => s.name) : [],
    // "diff (base <id>)" when a files source was stored differentially (SPEC §10); bases per source in --json.
    kind: b.complete?.objects.some((x) => x.base) ? "diff" : b.complete ? "full" : null,
    bases: Object.fromEntries((b.complete?.objects ?? []).filter((x) => x.base && x.source).map((x) => [x.source!, x.base!])),
    warnings: b.complete?.warnings ?? 0,
    last_drill: drills.get(b.id) ?? null,
  }));
  const leftovers = o.all ? await countLeftovers(store) : { count: 0, bytes: 0 };
  // --json keeps its array shape; the count goes to the log (stderr) there.
  if (leftovers.count && ctx.json) ctx.log.info("leftovers of killed runs", { leftover_files: leftovers.count, leftover_bytes: leftovers.bytes });
  const leftoverLine = `leftovers: ${leftovers.count} temporary file(s) of killed runs, ${formatBytes(leftovers.bytes)} (removed by the next backup or prune)`;
  ctx.print(rows, () => {
    if (rows.length === 0) return o.all ? `no backups\n${leftoverLine}` : "no backups";
    const head = ["ID", "TIME", "HOST", "SIZE", "SOURCES", "KIND", "DRILL"];
    const table = rows.map((r) => [
      r.complete ? (r.untrusted ? `${r.id} (UNTRUSTED)` : r.id) : `${r.id} (${r.damaged ? "DAMAGED" : "incomplete"})`,
      r.time.replace(/\.\d+Z$/, "Z"),
      r.host ?? "-",
      formatBytes(r.size),
      r.sources.join(",") || "-",
      r.kind === "diff" ? `diff (base ${[...new Set(Object.values(r.bases))].join(", ")})` : (r.kind ?? "-"),
      r.last_drill?.result ?? "-",
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const notes = [...rows.filter((r) => r.damaged).map((r) => `${r.id}: ${r.damaged}`), ...rows.filter((r) => r.untrusted).map((r) => `${r.id}: UNTRUSTED: ${r.untrusted!.join("; ")}`)];
    const text = [...[head, ...table].map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()), ...notes].join("\n");
    return o.all ? `${text}\n${leftoverLine}` : text;
  });
}
