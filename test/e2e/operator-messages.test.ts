// Messages an administrator meets while deploying: each names the problem and the fix.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { startReceiver } from "../helpers/http-receiver.js";
import { makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { runInProcess } from "../helpers/run-in-process.js";

const pg = inject("pg");

// config check and doctor run in-process (test/helpers/run-in-process.ts); backups and the daemon in a real process.
describe("config check and doctor catch what would only fail at 2 a.m.", () => {
  it("a configured lock_dir or identity_file that does not exist fails config check (exit 2), both named at once", async () => {
    const data = tempDir("msgdata");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const cfg = repo.write((c) => {
      c.lock_dir = "/nonexistent/strongbox-lock";
      c.encryption.identity_file = "/nonexistent/identity.txt";
    });
    const r = await runInProcess(["-c", cfg, "config", "check"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lock_dir: \/nonexistent\/strongbox-lock: ENOENT — create it/);
    expect(r.stderr).toMatch(/encryption\.identity_file: \/nonexistent\/identity\.txt: ENOENT/);
    const ok = await runInProcess(["-c", repo.configFile, "config", "check"]);
    expect(ok.code).toBe(0);
  });

  it("a secret file readable by others is warned about (file and mode named), in config check and doctor", async () => {
    const data = tempDir("msgdata");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const secret = join(repo.dir, "db-url");
    writeFileSync(secret, "postgres://app:pw@127.0.0.1:1/app\n");
    chmodSync(secret, 0o644);
    chmodSync(repo.identityFile, 0o640);
    const cfg = repo.write((c) => c.sources.push({ name: "db", type: "postgres", url_file: secret }));
    const r = await runInProcess(["-c", cfg, "config", "check"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`sources\\[1\\]\\.url_file: ${secret} is readable by everyone \\(mode 644\\): chmod 600 it`),
    );
    expect(r.stderr).toMatch(/encryption\.identity_file: .* is readable by its group \(mode 640\)/);
    expect(r.stderr).not.toMatch(/app:pw/);
    const d = await runInProcess(["-c", cfg, "doctor"]);
    expect(d.stdout).toMatch(/WARN\s+secret file\s+sources\[1\]\.url_file: .*\(mode 644\)/);
    expect(d.stdout).toMatch(/WARN\s+identity file .* mode 640: readable by others/);
  });
});

describe.skipIf(!pg)("a database URL without a password", () => {
  it("says that a password is needed and where to put it, not a SCRAM error", async () => {
    const url = `postgres://postgres@${pg!.host}:${pg!.port}/postgres`;
    const repo = makeRepo({ sources: [{ name: "db", type: "postgres", url }] });
    const r = await runCli(["-c", repo.configFile, "backup", "now"], { env: { PGPASSFILE: "/nonexistent" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /asks for a password and none was given: put it in the URL .*PGPASSWORD or a ~\/\.pgpass entry/,
    );
    expect(r.stderr).not.toMatch(/SCRAM|SASL/);
    // With PGPASSWORD it works (and the password stays out of the output).
    const ok = await runCli(["-c", repo.configFile, "backup", "now"], { env: { PGPASSWORD: pg!.password } });
    expect(ok.stderr).not.toMatch(/"level":"error"/);
    expect(ok.code).toBe(0);
  });
});

describe("the daemon's schedule", () => {
  it("defaults to schedules/default.yaml next to the config file, whatever the working directory", async () => {
    const data = tempDir("msgdata");
    writeFileSync(join(data, "f.txt"), "x\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    mkdirSync(join(repo.dir, "schedules"));
    writeFileSync(
      join(repo.dir, "schedules/default.yaml"),
      'jobs:\n  - { name: nightly, command: backup, cron: "15 2 * * *" }\n',
    );
    const elsewhere = tempDir("cwd");
    const r = await runCli(["-c", repo.configFile, "daemon", "--once", "nightly"], { cwd: elsewhere });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`schedule ${join(repo.dir, "schedules/default.yaml")}: 1 job(s)`);
    const missing = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const m = await runCli(["-c", missing.configFile, "daemon", "--once", "nightly"], { cwd: repo.dir });
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(
      new RegExp(
        `schedule file not found: ${join(missing.dir, "schedules/default.yaml")} \\(the default next to the config; --schedule FILE names another\\)`,
      ),
    );
  });

  it("a job's own notify list replaces the config's for that job", async () => {
    const a = await startReceiver();
    const b = await startReceiver();
    try {
      const data = tempDir("msgdata");
      writeFileSync(join(data, "f.txt"), "x\n");
      const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
      const cfg = repo.write((c) => (c.notify = [{ type: "webhook", url: `${a.url}/config` }]));
      const schedule = join(repo.dir, "schedule.yaml");
      writeFileSync(
        schedule,
        [
          "jobs:",
          '  - { name: plain, command: backup, cron: "15 2 * * *" }',
          `  - { name: own, command: backup, cron: "15 3 * * *", notify: [{ type: webhook, url: "${b.url}/own" }] }`,
          "",
        ].join("\n"),
      );
      const check = await runInProcess(["-c", cfg, "config", "check", "--schedule", schedule]);
      expect(check.code).toBe(0);
      for (const job of ["plain", "own"])
        expect((await runCli(["-c", cfg, "daemon", "--schedule", schedule, "--once", job])).code).toBe(0);
      expect(a.calls.map((c) => JSON.parse(c.body).job)).toEqual(["plain"]);
      expect(b.calls.map((c) => [c.path, JSON.parse(c.body).job])).toEqual([["/own", "own"]]);
      writeFileSync(
        schedule,
        'jobs:\n  - { name: bad, command: backup, cron: "15 2 * * *", notify: [{ type: pager, url: "x" }] }\n',
      );
      const bad = await runInProcess(["-c", cfg, "config", "check", "--schedule", schedule]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/jobs\[0\]\.notify\[0\]\.type/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
