import { accessSync, constants, mkdirSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { stateOwner } from "../differential/owner.js";
import { loadState } from "../differential/state.js";

export interface StateFinding {
  area: string;
  status: "ok" | "warn" | "fail";
  detail: string;
}

/**
 * Differential sources: the state directory must be writable (or every backup would be a full),
 * and each source says what its next backup will be based on. With Object Lock, the writer also
 * needs s3:PutObjectRetention to extend a base's retention (else a full is taken instead).
 */
export function stateFindings(config: Config): StateFinding[] {
  const sources = config.sources.filter((s) => s.type === "files" && s.differential);
  if (!sources.length) return [];
  const owner = stateOwner(config);
  const out: StateFinding[] = [];
  try {
    mkdirSync(owner.stateDir, { recursive: true, mode: 0o700 });
    accessSync(owner.stateDir, constants.W_OK);
    out.push({ area: "state dir", status: "ok", detail: `${owner.stateDir} writable` });
  } catch (err) {
    out.push({
      area: "state dir",
      status: "fail",
      detail: `${owner.stateDir}: ${(err as NodeJS.ErrnoException).code} — differential sources would take a full every time (set state_dir)`,
    });
  }
  for (const s of sources) {
    if (s.type !== "files") continue;
    const load = loadState(owner, s.name, s.path);
    out.push({
      area: `source ${s.name}`,
      status: "ok",
      detail: load.state
        ? `differential (full_every ${s.differential!.full_every}): last full ${load.state.full_id}, ${load.state.entries.length} files tracked`
        : `differential (full_every ${s.differential!.full_every}): the next backup is a full (${load.why})`,
    });
  }
  if ((config.repository.s3?.object_lock_days ?? 0) > 0) {
    out.push({
      area: "object lock",
      status: "ok",
      detail:
        "differentials extend their base's retention: the writer needs s3:PutObjectRetention (in 'strongbox policy writer'); without it a full is taken",
    });
  }
  return out;
}
