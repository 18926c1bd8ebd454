import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { CommandContext } from "../../src/commands/context.js";
import { watchWal } from "../../src/commands/daemon-wal.js";
import { walPushCommand } from "../../src/commands/wal.js";
import { parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { DaemonMetrics } from "../../src/scheduler/health.js";
import { readPushed, recordPushed } from "../../src/wal/last-pushed.js";
import { makeSegment, segName, SYSID } from "../helpers/wal-craft.js";

const root = mkdtempSync(join(tmpdir(), "strongbox-wallag-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cfg = (stateDir: string) => ({
  version: 1,
  repository: { url: `file://${join(root, "repo")}` },
  encryption: { recipients: [generateIdentity().recipient] },
  sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_URL}", wal: { max_lag: "5m" } }],
  state_dir: stateDir,
});

describe("the archive's lag in /metrics and /healthz", () => {
  it("wal push records the newest archived file in the state directory", async () => {
    const stateDir = join(root, "state-push");
    const file = join(root, "strongbox.yaml");
    writeFileSync(file, stringify(cfg(stateDir)));
    mkdirSync(join(root, "pg_wal"), { recursive: true });
    const path = join(root, "pg_wal", segName(1, 3));
    writeFileSync(path, makeSegment({ sysid: SYSID, tli: 1, segno: 3 }));
    const before = Date.now();
    await walPushCommand(new CommandContext({ config: file, quiet: true }, {}, new PassThrough()), path);
    const [r] = await readPushed(stateDir);
    expect(r).toMatchObject({ systemId: `${SYSID}`, name: segName(1, 3) });
    expect(r.at).toBeGreaterThanOrEqual(before - 1000);
  });

  it("reports the newest archived file's age and fails health past wal.max_lag", async () => {
    const stateDir = join(root, "state-lag");
    const metrics = new DaemonMetrics();
    watchWal(metrics, parseConfig(stringify(cfg(stateDir)), {}), {});
    const now = Date.now();
    await recordPushed(stateDir, "42", "000000010000000000000009", now - 60_000);
    await metrics.refresh!();
    expect(metrics.health(now)).toEqual({ ok: true, reasons: [] });
    expect(metrics.prometheus(now)).toContain('strongbox_wal_newest_archived_age_seconds{system_id="42"} 60\n');
    await recordPushed(stateDir, "42", "00000001000000000000000A", now - 6 * 60_000);
    await metrics.refresh!();
    const h = metrics.health(now);
    expect(h.ok).toBe(false);
    expect(h.reasons).toEqual([
      "WAL archiving of cluster 42 lags: the newest archived file 00000001000000000000000A is 6m old, more than wal.max_lag 5m",
    ]);
    expect(metrics.prometheus(now)).toContain("strongbox_healthy 0\n");
  });

  it("with nothing archived since the daemon started, fails only after wal.max_lag", async () => {
    const metrics = new DaemonMetrics();
    watchWal(metrics, parseConfig(stringify(cfg(join(root, "state-none"))), {}), {});
    await metrics.refresh!();
    expect(metrics.health(metrics.startedAt + 60_000).ok).toBe(true);
    expect(metrics.health(metrics.startedAt + 6 * 60_000).reasons).toEqual([
      "no WAL file archived by wal push on this host (wal.max_lag 5m)",
    ]);
  });
});
