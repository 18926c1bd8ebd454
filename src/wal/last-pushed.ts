import { promises as fsp } from "node:fs";
import { join } from "node:path";

/**
 * The newest WAL file this host archived, per cluster: `<state_dir>/wal/<system id>.json`, written
 * by `wal push` after each success. The writer cannot list the repository, so this local record is
 * what the daemon's /metrics and /healthz (and doctor) read for the archive's lag.
 */
export interface LastPushed {
  systemId: string;
  name: string;
  /** When it was stored (ms since the epoch). */
  at: number;
}

const dirOf = (stateDir: string) => join(stateDir, "wal");

/** Records a stored WAL file; a failure is the caller's to log, never a failed push. */
export async function recordPushed(stateDir: string, systemId: string, name: string, at = Date.now()): Promise<void> {
  const dir = dirOf(stateDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${systemId}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify({ name, at: new Date(at).toISOString() }) + "\n", { mode: 0o600 });
  await fsp.rename(tmp, file);
}

/** Every cluster's newest archived file; records that cannot be read or parsed are left out. */
export async function readPushed(stateDir: string): Promise<LastPushed[]> {
  const names = await fsp.readdir(dirOf(stateDir)).catch(() => [] as string[]);
  const out: LastPushed[] = [];
  for (const f of names) {
    const m = /^([1-9][0-9]{0,19})\.json$/.exec(f);
    if (!m) continue;
    try {
      const j = JSON.parse(await fsp.readFile(join(dirOf(stateDir), f), "utf8")) as { name?: unknown; at?: unknown };
      const at = typeof j.at === "string" ? Date.parse(j.at) : NaN;
      if (typeof j.name === "string" && Number.isFinite(at))
        out.push({ systemId: m[1], name: j.name.slice(0, 64), at });
    } catch {
      // A half-written or foreign file: not a record.
    }
  }
  return out;
}
