// A cluster drill judges the WAL archive as recovery will fetch it: with signing configured, an unsigned
// object a writer-key forger put beside a real segment is ignored (as `wal fetch` ignores it), not a
// "doubled file" that fails the drill of an archive that restores.
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { parseIdentities } from "../../src/crypto/age-keys.js";
import { drillCluster } from "../../src/engine/drill/cluster.js";
import { silentLogger } from "../../src/log.js";
import type { ClusterManifest } from "../../src/repository/manifest.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { tempDir } from "../helpers/cli.js";
import { encryptTo } from "../helpers/forge-store.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { signedRepo } from "../helpers/signing.js";
import { makeDataDir, makeSegment, segName, sha256, SEG, SYSID } from "../helpers/wal-craft.js";

/** A pg_bin_dir whose postgres is 15.8 to --version and otherwise fails at once (no server is needed here). */
function failingServer(root: string): string {
  const bin = join(root, "bin");
  mkdirSync(bin, { mode: 0o755 });
  writeFileSync(
    join(bin, "postgres"),
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "postgres (PostgreSQL) 15.8"; exit 0; fi\necho "FATAL: test server" >&2\nexit 1\n`,
  );
  chmodSync(join(bin, "postgres"), 0o755);
  return bin;
}

describe("cluster drill with signed WAL", () => {
  it("ignores an unsigned forged twin of a real segment, as wal fetch does", async () => {
    const root = tempDir("drill-signed");
    chmodSync(root, 0o755);
    const { repo } = await signedRepo({
      sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_REPLICATION_URL}" }],
    });
    const sysid = SYSID + 77n;
    const sys = sysid.toString();
    const data = makeDataDir(tempDir("pgdata"), sysid);
    const pushConfig = repo.write((c) => {
      delete c.encryption.identity_file;
      c.state_dir = tempDir("walstate");
    });
    for (const segno of [3, 4, 5]) {
      const name = segName(1, segno);
      writeFileSync(join(data, "pg_wal", name), makeSegment({ sysid, tli: 1, segno }));
      expect(await runCli(["-c", pushConfig, "wal", "push", `pg_wal/${name}`], { cwd: data })).toMatchObject({
        code: 0,
      });
    }
    // The forger's twin of segment 4: other bytes, unsigned (the legacy key form).
    const store = join(repo.dir, "repository");
    const evil = makeSegment({ sysid, tli: 1, segno: 4 });
    const forged = join(store, "wal", sys, "00000001", `${segName(1, 4)}.${sha256(evil)}.age`);
    mkdirSync(dirname(forged), { recursive: true });
    writeFileSync(forged, await encryptTo(repo.recipient, evil));

    const config = loadConfig(repo.configFile, { ...process.env, PG_REPLICATION_URL: "postgresql://u@localhost/d" });
    const source = config.sources[0] as { pg_bin_dir?: string };
    source.pg_bin_dir = failingServer(root);
    const dataDir = join(root, "data");
    mkdirSync(dataDir, { mode: 0o700 });
    if (process.getuid?.() === 0) chownSync(dataDir, 65534, 65534);
    const start = 3n * BigInt(SEG) + 0x28n;
    const manifest = {
      type: "postgres-cluster",
      server_version: "15.8",
      system_identifier: sys,
      timeline: 1,
      start_lsn: `0/${start.toString(16).toUpperCase()}`,
      start_wal: segName(1, 3),
    } as ClusterManifest;
    const r = await drillCluster({
      name: "cluster",
      manifest,
      store: new LocalDirStore(store),
      identities: parseIdentities(readFileSync(repo.identityFile, "utf8")),
      config,
      recovery: { action: "promote", restoreCommand: "false" },
      scratch: { dir: dataDir },
      started: new Date(),
      log: silentLogger,
    });
    // The archive's chain holds (3..5): the drill goes on to recovery (which the fake server fails).
    expect(r.checks[0].name).toBe(`cluster: recovers to end of archive (${segName(1, 5)})`);
    expect(r.checks[0].detail).toMatch(/FATAL: test server/);
  });
});
