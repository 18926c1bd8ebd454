// Issue 22, item 14: the shipped systemd units, env file, sample config, sysusers/tmpfiles files and
// compose file run as shipped. No systemd runs here (and no Docker engine), so each file is checked
// by the tool that reads it: systemd-analyze verify and security on the units copied unmodified into
// a scratch root, systemd-sysusers and systemd-tmpfiles in that root, `strongbox config check` on the
// sample config with the env file, and the compose file parsed.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { BIN, runCli, tempDir } from "../helpers/cli.js";

const root = new URL("../../", import.meta.url).pathname;
const examples = join(root, "schedules/examples");
const read = (f: string) => readFileSync(join(examples, f), "utf8");
const UNITS = ["strongbox.service", "strongbox-backup@.service", "strongbox-backup@nightly-backup.timer"];
const SERVICES = ["strongbox.service", "strongbox-backup@.service"];
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const required = process.env.CI === "true";

/** A unit's values for one key, in order. */
const values = (unit: string, key: string) =>
  [...read(unit).matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);

/** KEY=value lines, as systemd's EnvironmentFile= and compose's env_file read them. */
function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(line);
    expect(m, `strongbox.env: "${line}" is a KEY=value line without quotes or spaces`).not.toBeNull();
    env[m![1]] = m![2];
  }
  return env;
}

/**
 * A scratch root with the units as shipped in /etc/systemd/system, the host's own units (targets)
 * in /usr/lib/systemd/system, and a stand-in at the path ExecStart= names: verify checks that the
 * file exists and is executable, not what it is (sea.test.ts builds and runs the real single executable).
 */
function scratchRoot(o: { binary: boolean }): string {
  const r = tempDir("units-root");
  mkdirSync(join(r, "etc/systemd/system"), { recursive: true });
  mkdirSync(join(r, "usr/lib/systemd"), { recursive: true });
  symlinkSync("/usr/lib/systemd/system", join(r, "usr/lib/systemd/system"));
  for (const u of UNITS) copyFileSync(join(examples, u), join(r, "etc/systemd/system", u));
  if (o.binary) {
    const bin = join(r, values("strongbox.service", "ExecStart")[0].split(" ")[0]);
    mkdirSync(join(bin, ".."), { recursive: true });
    writeFileSync(bin, "#!/bin/sh\n");
    chmodSync(bin, 0o755);
  }
  return r;
}

function verify(r: string) {
  const v = spawnSync(
    "systemd-analyze",
    [
      "verify",
      `--root=${r}`,
      "strongbox.service",
      "strongbox-backup@nightly-backup.service",
      "strongbox-backup@nightly-backup.timer",
    ],
    { encoding: "utf8" },
  );
  // The host's absolute symlinks (runlevel3.target -> multi-user.target, …) do not resolve inside the root: noise.
  return {
    status: v.status,
    problems: v.stderr.split("\n").filter((l) => l && !l.startsWith("Failed to resolve symlink")),
  };
}

describe.skipIf(!has("systemd-analyze") && !required)("the systemd units, with systemd-analyze", () => {
  it("verify passes on the units as shipped, and fails when the executable ExecStart= names is missing", () => {
    expect(verify(scratchRoot({ binary: true }))).toEqual({ status: 0, problems: [] });
    const missing = verify(scratchRoot({ binary: false }));
    expect(missing.status).not.toBe(0);
    expect(missing.problems.join("\n")).toMatch(/Command \/usr\/local\/bin\/strongbox is not executable/);
  });

  it("run the single executable as user strongbox with the env file, the credentials and hardening that `security` rates OK", () => {
    for (const unit of SERVICES) {
      expect(values(unit, "ExecStart")[0]).toMatch(
        /^\/usr\/local\/bin\/strongbox daemon --schedule \/etc\/strongbox\/schedules\/default\.yaml /,
      );
      expect(values(unit, "User")).toEqual(["strongbox"]);
      expect(values(unit, "EnvironmentFile")).toEqual(["/etc/strongbox/strongbox.env"]);
      expect(values(unit, "LoadCredential")).toEqual([
        "writer:/etc/strongbox/secrets/writer",
        "database-url:/etc/strongbox/secrets/database-url",
      ]);
      for (const [k, v] of [
        ["NoNewPrivileges", "true"],
        ["ProtectSystem", "strict"],
        ["PrivateTmp", "true"],
        ["StateDirectory", "strongbox"],
        ["RuntimeDirectory", "strongbox"],
      ])
        expect(values(unit, k), `${unit}: ${k}`).toEqual([v]);
      // Node's JIT needs writable executable memory: this one would break it.
      expect(values(unit, "MemoryDenyWriteExecute")).toEqual([]);
      const s = spawnSync("systemd-analyze", ["security", "--offline=true", join(examples, unit)], {
        encoding: "utf8",
      });
      const level = Number(/Overall exposure level for .*: ([\d.]+)/.exec(s.stdout)?.[1]);
      expect(level, `${unit}: ${s.stdout.split("\n").slice(-2).join("")}`).toBeLessThanOrEqual(2);
    }
    // A config error (exit 2) does not fix itself: the daemon must not restart in a loop.
    expect(values("strongbox.service", "RestartPreventExitStatus")).toEqual(["2"]);
    expect(values("strongbox-backup@.service", "ExecStart")[0]).toMatch(/--once %i --grace \S+$/);
  });
});

describe.skipIf((!has("systemd-sysusers") || process.getuid?.() !== 0) && !required)(
  "strongbox.sysusers.conf and strongbox.tmpfiles.conf",
  () => {
    it("create the user the units run as, and the state, log and lock directories it owns, in a scratch root", () => {
      const r = tempDir("sysusers-root");
      mkdirSync(join(r, "etc"));
      const su = spawnSync("systemd-sysusers", [`--root=${r}`, join(examples, "strongbox.sysusers.conf")], {
        encoding: "utf8",
      });
      expect(su.status, su.stderr).toBe(0);
      const passwd = readFileSync(join(r, "etc/passwd"), "utf8")
        .split("\n")
        .find((l) => l.startsWith("strongbox:"))!;
      const [, , uid, gid, , home, shell] = passwd.split(":");
      expect([home, shell]).toEqual(["/var/lib/strongbox", "/usr/sbin/nologin"]);
      expect(Number(uid)).toBeLessThan(1000);
      const tf = spawnSync("systemd-tmpfiles", [`--root=${r}`, "--create", join(examples, "strongbox.tmpfiles.conf")], {
        encoding: "utf8",
      });
      expect(tf.status, tf.stderr).toBe(0);
      for (const [dir, mode] of [
        ["var/lib/strongbox", 0o700],
        ["var/log/strongbox", 0o750],
        ["run/strongbox", 0o750],
      ] as const) {
        const st = statSync(join(r, dir));
        expect([st.uid, st.gid, st.mode & 0o777], dir).toEqual([Number(uid), Number(gid), mode]);
      }
    });
  },
);

describe("strongbox.env and the sample strongbox.yaml", () => {
  const env = envFile(read("strongbox.env"));
  const config = read("strongbox.yaml");
  const credentials = tempDir("units-credentials");
  for (const name of values("strongbox.service", "LoadCredential").map((c) => c.split(":")[0]))
    writeFileSync(
      join(credentials, name),
      name === "database-url" ? "postgres://strongbox:pw@db.internal:5432/spx\n" : "wJalrXUtnFEMI7K7MDENGbPxRfiCY1x2\n",
      { mode: 0o600 },
    );

  it("the env file defines every variable the config uses; the credentials the units load are the files it reads", () => {
    const code = config.replace(/(^|\s)#.*$/gm, "");
    const used = new Set([...code.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(3);
    used.delete("CREDENTIALS_DIRECTORY"); // systemd's (LoadCredential=), and the compose file's environment
    expect([...used].filter((v) => !(v in env))).toEqual([]);
    const read = [...code.matchAll(/\$\{CREDENTIALS_DIRECTORY\}\/([a-z-]+)/g)].map((m) => m[1]).sort();
    for (const unit of SERVICES)
      expect(
        values(unit, "LoadCredential")
          .map((c) => c.split(":")[0])
          .sort(),
      ).toEqual(read);
  });

  it("as shipped, config check names only the two values the operator must put in; with them, it passes (schedule too)", async () => {
    const dir = tempDir("units-config");
    const shipped = join(dir, "strongbox.yaml");
    writeFileSync(shipped, config);
    const runEnv = { ...env, CREDENTIALS_DIRECTORY: credentials };
    const r = await runCli(["-c", shipped, "config", "check"], { env: runEnv });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/is not set|cannot read/);
    expect(r.stderr.split("\n").filter((l) => /^\s+\S/.test(l))).toEqual([
      "  repository.s3.credentials.writer.access_key_id: access_key_id looks like a placeholder",
      "  encryption.recipients[0]: is the example recipient: put your own public key (strongbox keygen) here",
    ]);

    const filled = join(dir, "filled.yaml");
    writeFileSync(filled, config.replace(/age1example[\w-]*/, generateIdentity().recipient));
    const ok = await runCli(["-c", filled, "config", "check", "--schedule", join(root, "schedules/default.yaml")], {
      env: { ...runEnv, BACKUP_WRITER_KEY_ID: "AKIA7Q3ZK2PLRT" },
    });
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/OK \(2 sources: db, projects; repository s3:\/\/spx-backups\/spx-prod\)/);
  });

  it("the compose file (and the Kubernetes CronJob) parse, name the env file, and give the config its CREDENTIALS_DIRECTORY", () => {
    const compose = parse(read("docker-compose.yaml")).services.strongbox;
    expect(compose.env_file).toEqual(["./strongbox.env"]);
    expect(compose.environment.CREDENTIALS_DIRECTORY).toBe("/run/secrets");
    expect(compose.volumes.some((v: string) => v.split(":")[1] === "/run/secrets")).toBe(true);
    expect(compose.environment.STRONGBOX_CONFIG).toBe("/etc/strongbox/strongbox.yaml");
    // The Kubernetes CronJob: the same variables from a ConfigMap made of strongbox.env, the secrets as files.
    const [job] = parse(read("kubernetes-cronjob.yaml")).spec.jobTemplate.spec.template.spec.containers;
    expect(job.envFrom).toEqual([{ configMapRef: { name: "strongbox-env" } }]);
    expect(job.env).toContainEqual({ name: "CREDENTIALS_DIRECTORY", value: "/run/secrets" });
    expect(job.volumeMounts).toContainEqual({ name: "secrets", mountPath: "/run/secrets", readOnly: true });
  });

  it("the README's install block puts each file where the units look for it", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const block = /\*\*Running under systemd\.\*\*[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)![1];
    const binary = values("strongbox.service", "ExecStart")[0].split(" ")[0];
    expect(block).toContain(`install -m 0755 dist/sea/strongbox-linux-x64 ${binary}`);
    expect(block).toContain(
      `install -m 0600 schedules/examples/strongbox.env ${values("strongbox.service", "EnvironmentFile")[0]}`,
    );
    expect(block).toContain(
      `install -m 0644 schedules/examples/strongbox.yaml ${values("strongbox.service", "Environment")[0].split("=")[1]}`,
    );
    expect(block).toContain(
      "install -m 0644 schedules/examples/strongbox.sysusers.conf /etc/sysusers.d/strongbox.conf && systemd-sysusers",
    );
    for (const c of values("strongbox.service", "LoadCredential")) expect(block).toContain(c.split(":")[1]);
    for (const [, file] of block.matchAll(/schedules\/examples\/(\S+)/g))
      expect(existsSync(join(examples, file)), file).toBe(true);
  });
});

// Debian 12's node is 18 (here /usr/bin/node may be 20): the npm-installed bin/strongbox must say what to do.
const oldNode = ["/usr/bin/node", "/usr/bin/nodejs"].find((n) => {
  const v = spawnSync(n, ["-p", "process.versions.node"], { encoding: "utf8" }).stdout?.trim().split(".").map(Number);
  return v && (v[0] < 22 || (v[0] === 22 && v[1] < 15));
});

describe.skipIf(!oldNode)("bin/strongbox under a Node.js older than 22.15", () => {
  it("installed from npm (no scripts/ beside it): one line that says which node ran and what to do, exit 2", () => {
    const pkg = tempDir("old-node-pkg");
    mkdirSync(join(pkg, "bin"));
    copyFileSync(BIN, join(pkg, "bin/strongbox"));
    const r = spawnSync(oldNode!, [join(pkg, "bin/strongbox"), "--version"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^strongbox needs Node.js >= 22\\.15, but ${oldNode} is v\\d+\\.`));
    expect(r.stderr).not.toMatch(/quickstart/);
    expect(r.stderr).toContain(
      `install Node.js 24 LTS (nodejs.org) and run this file with it (/path/to/node24/bin/node ${join(pkg, "bin/strongbox")} …; under systemd, put that node in ExecStart=)`,
    );
    expect(r.stderr).toMatch(/or use the single executable, which needs no Node\.js/);
  });

  it("in a checkout: points at scripts/quickstart.sh", () => {
    const r = spawnSync(oldNode!, [BIN, "--version"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/run scripts\/quickstart\.sh, which installs Node 24 into \.tools\/node/);
  });
});
