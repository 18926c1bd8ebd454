import { formatBytes } from "../progress.js";
import { newestBySource, Repository } from "../repository/repository.js";
import { ageOf } from "./prune.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { countLeftovers } from "./leftovers.js";
import { repositoryOptions } from "../repository/options.js";

export async function listCommand(ctx: CommandContext, o: { all?: boolean }): Promise<void> {
  const store = await openStore(ctx.config(), "reader");
  const repo = new Repository(store, repositoryOptions(ctx.config()));
  // Damaged backups (an untrustworthy complete.json) are always shown: they need an operator's eye.
  const backups = (await repo.listBackups()).filter((b) => o.all || b.complete || b.damaged);
  const drills = await repo.lastDrills();
  // Per configured source (and any other a backup holds): its newest restorable backup, what `restore latest` takes.
  const now = new Date();
  const newest = [
    ...newestBySource(
      backups,
      ctx.config().sources.map((s) => s.name),
    ),
  ].map(([source, b]) => ({
    source,
    id: b?.id ?? null,
    age: b ? ageOf(b.time, now) : null,
  }));
  const newestSources = new Map<string, string[]>();
  for (const n of newest) if (n.id) newestSources.set(n.id, [...(newestSources.get(n.id) ?? []), n.source]);
  const newestOf = (id: string) => newestSources.get(id) ?? [];
  const rows = backups.map((b) => ({
    id: b.id,
    time: b.complete?.started_at ?? b.time.toISOString(),
    host: b.complete?.host ?? null,
    complete: Boolean(b.complete),
    ...(b.damaged ? { damaged: b.damaged } : {}),
    // Not counted by retention, never `latest`: why (the store's time contradicts the claim, a signature).
    ...(b.untrusted?.length ? { untrusted: b.untrusted } : {}),
    // Not counted by retention (stored long after its claimed time, and no trusted signature says why).
    ...(b.backdated ? { backdated: b.backdated } : {}),
    // A differential whose base is missing, incomplete, damaged or untrusted: not restorable, never latest, not counted.
    ...(b.brokenChain ? { broken_chain: b.brokenChain } : {}),
    // The sources for which this is the newest restorable backup (what `restore latest` takes).
    ...(newestOf(b.id).length ? { newest_of: newestOf(b.id) } : {}),
    stored_at: b.serverTime?.toISOString() ?? null,
    ...(b.signedBy ? { signed_by: b.signedBy } : {}),
    ...(b.trustNote ? { trust_note: b.trustNote } : {}),
    size: b.complete ? b.complete.objects.reduce((n, x) => n + x.size, 0) : b.objects.reduce((n, x) => n + x.size, 0),
    sources: b.complete ? b.complete.sources.map((s) => s.name) : [],
    // "diff (base <id>)" when a files source was stored differentially (README, "Differential backups"); bases per source in --json.
    kind: b.complete?.objects.some((x) => x.base) ? "diff" : b.complete ? "full" : null,
    bases: Object.fromEntries(
      (b.complete?.objects ?? []).filter((x) => x.base && x.source).map((x) => [x.source!, x.base!]),
    ),
    warnings: b.complete?.warnings ?? 0,
    // Committed with unreadable paths left out (on_unreadable: partial): the sources, whose manifests list the paths.
    ...(b.complete?.partial ? { partial: b.complete.partial } : {}),
    last_drill: drills.get(b.id) ?? null,
  }));
  const leftovers = o.all ? await countLeftovers(store) : { count: 0, bytes: 0 };
  // --json keeps its array shape; the count goes to the log (stderr) there.
  if (leftovers.count && ctx.json)
    ctx.log.info("leftovers of killed runs", { leftover_files: leftovers.count, leftover_bytes: leftovers.bytes });
  const leftoverLine = `leftovers: ${leftovers.count} temporary file(s) of killed runs, ${formatBytes(leftovers.bytes)} (prune removes them all; backup and copy those in .strongbox-tmp/ and $TMPDIR)`;
  // Keys under backups/ that name no valid backup id (e.g. 20261232T…) belong to no backup: ignored, but said.
  const ig = repo.ignored;
  const ignoredLine = ig.count
    ? `ignored: ${ig.count} object(s) under backups/ whose name is not a backup id (${ig.sample.join(", ")}${ig.count > ig.sample.length ? ", …" : ""})`
    : "";
  if (ig.count && ctx.json)
    ctx.log.warn("objects under backups/ that belong to no valid backup id", {
      ignored_objects: ig.count,
      examples: ig.sample,
    });
  ctx.print(rows, () => {
    const tail = o.all ? [leftoverLine, ...(ignoredLine ? [ignoredLine] : [])] : [];
    if (rows.length === 0) return ["no backups", ...tail].join("\n");
    const head = ["ID", "TIME", "HOST", "SIZE", "SOURCES", "KIND", "DRILL"];
    const table = rows.map((r) => [
      r.untrusted
        ? `${r.id} (UNTRUSTED)`
        : r.broken_chain
          ? `${r.id} (BROKEN CHAIN)`
          : r.backdated
            ? `${r.id} (NOT COUNTED)`
            : r.complete
              ? r.partial
                ? `${r.id} (PARTIAL)`
                : r.id
              : `${r.id} (${r.damaged ? "DAMAGED" : "incomplete"})`,
      r.time.replace(/\.\d+Z$/, "Z"),
      r.host ?? "-",
      formatBytes(r.size),
      r.sources.join(",") || "-",
      r.kind === "diff" ? `diff (base ${[...new Set(Object.values(r.bases))].join(", ")})` : (r.kind ?? "-"),
      r.last_drill?.result ?? "-",
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const notes = [
      ...rows.filter((r) => r.damaged).map((r) => `${r.id}: ${r.damaged}`),
      ...rows
        .filter((r) => r.partial)
        .map(
          (r) =>
            `${r.id}: partial: ${r.partial!.join(", ")} left out paths that could not be read (the manifest lists them)`,
        ),
      ...rows
        .filter((r) => r.untrusted)
        .map((r) => `${r.id}: untrusted, not counted by retention nor picked as latest: ${r.untrusted!.join("; ")}`),
      ...rows
        .filter((r) => !r.untrusted && r.broken_chain)
        .map((r) => `${r.id}: BROKEN CHAIN, not restorable, never latest, not counted by retention: ${r.broken_chain}`),
      ...rows
        .filter((r) => !r.untrusted && r.backdated)
        .map(
          (r) =>
            `${r.id}: not counted by retention: ${r.backdated} (a copy, or a back-dated forgery: a trusted signature tells them apart)`,
        ),
    ];
    const points = newest.map((n) =>
      n.id ? `newest of ${n.source}: ${n.id} (${n.age} old)` : `newest of ${n.source}: none restorable`,
    );
    return [
      ...[head, ...table].map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]))
          .join("  ")
          .trimEnd(),
      ),
      ...notes,
      ...points,
      ...tail,
    ].join("\n");
  });
}
