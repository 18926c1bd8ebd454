// The throwaway recovery server does not outlive strongbox: killed with SIGKILL (no cleanup runs),
// the server it started gets a signal from the kernel and stops, instead of running on unowned.
import { spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { Logger } from "../../src/log.js";
import { withRecoveredServer } from "../../src/sources/postgres-cluster/recover-run.js";
import { tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

/** Whether `pid` is a live process (a zombie no one reaped yet is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("the throwaway recovery server", () => {
  it("stops when the strongbox process that started it is killed", async () => {
    const root = tempDir("recover-orphan");
    chmodSync(root, 0o755);
    const bin = join(root, "bin");
    mkdirSync(bin, { mode: 0o755 });
    const pidFile = join(root, "server.pid");
    // A "server" that never opens its socket: recovery waits on it until strongbox is killed.
    writeFileSync(
      join(bin, "postgres"),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "postgres (PostgreSQL) 15.8"; exit 0; fi\necho $$ > ${pidFile}\nexec sleep 300\n`,
    );
    chmodSync(join(bin, "postgres"), 0o755);
    const dataDir = join(root, "data");
    mkdirSync(dataDir, { mode: 0o700 });
    if (process.getuid?.() === 0) {
      chownSync(dataDir, 65534, 65534);
      chownSync(root, 65534, 65534);
    }
    const dist = resolve("dist");
    const script = join(root, "run.mjs");
    writeFileSync(
      script,
      `import { withRecoveredServer } from ${JSON.stringify(join(dist, "sources/postgres-cluster/recover-run.js"))};
import { silentLogger } from ${JSON.stringify(join(dist, "log.js"))};
await withRecoveredServer({ dataDir: ${JSON.stringify(dataDir)}, major: 15, pgBinDir: ${JSON.stringify(bin)}, timeoutMs: 300000, log: silentLogger }, async () => {});
`,
    );
    // Only the basics and STRONGBOX_* variables reach the server (its restore_command runs strongbox).
    const env = { ...process.env, UNRELATED_SECRET: "leak-me-123", STRONGBOX_IDENTITY_PASSPHRASE: "for-wal-fetch" };
    const child = spawn(process.execPath, [script], { stdio: "ignore", env });
    try {
      await until(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "", 20_000);
      const server = Number(readFileSync(pidFile, "utf8"));
      expect(alive(server)).toBe(true);
      // As root it runs as the data directory's owner, never as root.
      if (process.getuid?.() === 0)
        expect(readFileSync(`/proc/${server}/status`, "utf8")).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      // Read once the shell has become `sleep` (during the exec /proc shows an empty environment).
      await until(() => readFileSync(`/proc/${server}/cmdline`, "utf8").startsWith("sleep\0"), 20_000);
      const environ = readFileSync(`/proc/${server}/environ`, "utf8").split("\0");
      expect(environ).toContain("STRONGBOX_IDENTITY_PASSPHRASE=for-wal-fetch");
      expect(environ.join("\n")).not.toContain("leak-me-123");
      child.kill("SIGKILL");
      await until(() => !alive(server), 20_000); // the server stopped after strongbox was killed
      // Its run directory under /tmp is left, named after the killed process. The next recovery (this
      // one never reaches a target: its server opens no socket) removes it first; /tmp is shared, so
      // another file's recovery may get there before it.
      const runDirs = () =>
        readdirSync("/tmp").filter((n) => new RegExp(`^strongbox-pgrun-[0-9a-f]{8}-${child.pid}-`).test(n));
      await until(() => child.exitCode !== null || child.signalCode !== null, 20_000);
      const lines: string[] = [];
      const log = new Logger({ level: "warn", human: false, stream: { write: (l: string) => lines.push(l) } as never });
      await expect(
        withRecoveredServer({ dataDir, major: 15, pgBinDir: bin, timeoutMs: 1000, log }, async () => {}),
      ).rejects.toThrow(/recovery did not reach its target within 1 s/);
      expect(runDirs()).toEqual([]);
      expect(lines.join("")).not.toMatch(/cannot remove/);
      // Nor does the second recovery leave its own.
      expect(
        readdirSync("/tmp").filter((n) => n.includes(`-${process.pid}-`) && n.startsWith("strongbox-pgrun-")),
      ).toEqual([]);
    } finally {
      child.kill("SIGKILL");
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, "utf8"));
        if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
      }
    }
  });
});
