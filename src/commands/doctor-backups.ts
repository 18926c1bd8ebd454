import type { Config, Role } from "../config/schema.js";
import { describeError } from "../errors.js";
import { Repository } from "../repository/repository.js";
import { repositoryOptions } from "../repository/options.js";
import { openStore } from "../stores/open-store.js";

export interface BackupFinding {
  area: string;
  status: "ok" | "warn" | "fail";
  detail: string;
}

const SHOWN = 5;

const some = (items: string[]) =>
  items.slice(0, SHOWN).join("; ") +
  (items.length > SHOWN ? `; and ${items.length - SHOWN} more (strongbox list --all)` : "");

/**
 * What the repository holds, judged as prune and restore judge it: backups that are not counted
 * (untrusted: a claimed time the store contradicts, a signature that does not hold), damaged ones,
 * and objects under backups/ that belong to no valid backup id. Each is a warning: a forged backup
 * means someone wrote with a writer key, which this host's config cannot fix, but an operator must see.
 */
export async function backupFindings(config: Config, role: Role): Promise<BackupFinding[]> {
  const repo = new Repository(await openStore(config, role), repositoryOptions(config));
  let all;
  try {
    all = await repo.listBackups();
  } catch (err) {
    return [
      { area: "backups", status: "warn", detail: `cannot list backups with the ${role} role: ${describeError(err)}` },
    ];
  }
  const complete = all.filter((b) => b.complete);
  const untrusted = complete.filter((b) => b.untrusted?.length);
  const damaged = all.filter((b) => b.damaged);
  const out: BackupFinding[] = [
    {
      area: "backups",
      status: "ok",
      detail: `${complete.length - untrusted.length} trusted complete backup(s)${complete[0] && !untrusted.length ? `, newest ${complete[0].id}` : ""}`,
    },
  ];
  const newestTrusted = complete.find((b) => !b.untrusted?.length);
  if (untrusted.length)
    out[0].detail = `${complete.length - untrusted.length} trusted complete backup(s)${newestTrusted ? `, newest ${newestTrusted.id}` : ""}`;
  if (untrusted.length) {
    out.push({
      area: "untrusted backups",
      status: "warn",
      detail: `${untrusted.length} not counted by retention nor picked as latest (forged with a writer key, or a clock far off): ${some(untrusted.map((b) => `${b.id} (${b.untrusted!.join("; ")})`))}`,
    });
  }
  const backdated = complete.filter((b) => !b.untrusted?.length && b.backdated);
  if (backdated.length) {
    out.push({
      area: "back-dated backups",
      status: "warn",
      detail: `${backdated.length} stored long after the time they claim, not counted by retention (copies, or back-dated forgeries; sign backups to tell them apart): ${some(backdated.map((b) => `${b.id} (${b.backdated})`))}`,
    });
  }
  if (damaged.length)
    out.push({
      area: "damaged backups",
      status: "warn",
      detail: `${damaged.length} kept for inspection: ${some(damaged.map((b) => `${b.id} (${b.damaged})`))}`,
    });
  if (repo.ignored.count) {
    out.push({
      area: "stray objects",
      status: "warn",
      detail: `${repo.ignored.count} object(s) under backups/ whose name is not a backup id, ignored: ${repo.ignored.sample.join(", ")}${repo.ignored.count > repo.ignored.sample.length ? ", …" : ""}`,
    });
  }
  return out;
}
