// The container image cannot be built here (no Docker engine, and neither Docker Hub nor
// apt.postgresql.org is reachable), so its parts are tested on their own: the entrypoint script
// under the real tini, as the image runs it, and the Dockerfile's promises read from the file.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

const root = new URL("../../", import.meta.url).pathname;
const entrypoint = join(root, "docker/entrypoint.sh");
const hasTini = spawnSync("sh", ["-c", "command -v tini"]).status === 0;
const required = process.env.CI === "true";

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  // The image has node on PATH and strongbox at STRONGBOX_BIN; here the repository's own bin.
  return { PATH: process.env.PATH, HOME: process.env.HOME, STRONGBOX_BIN: BIN, TMPDIR: tempDir("ep-tmp"), ...extra };
}

function run(args: string[], e: NodeJS.ProcessEnv) {
  return spawnSync(entrypoint, args, { env: e, encoding: "utf8" });
}

describe("the container entrypoint", () => {
  it("refuses to start without a config, naming where it looked and how to mount one (exit 2)", () => {
    const r = run(["backup", "now"], env({ STRONGBOX_CONFIG: "/nonexistent/strongbox.yaml" }));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      "strongbox-entrypoint: no config at /nonexistent/strongbox.yaml: mount one (-v ./strongbox.yaml:/nonexistent/strongbox.yaml:ro) or set STRONGBOX_CONFIG",
    );
  });

  it("passes arguments through; --version and keygen need no config", () => {
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
    expect(run(["--version"], env({ STRONGBOX_CONFIG: "/nonexistent" })).stdout.trim()).toBe(version);
    const k = run(["keygen"], env({ STRONGBOX_CONFIG: "/nonexistent" }));
    expect(k.status).toBe(0);
    expect(k.stdout).toMatch(/age1[a-z0-9]{58}/);
  });

  it("says so when TMPDIR is not writable (a read-only root filesystem without a tmpfs)", () => {
    const ro = tempDir("ep-ro");
    chmodSync(ro, 0o555);
    // root may write anywhere: check as a user for whom the directory really is read-only
    const asNobody =
      process.getuid?.() === 0
        ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", entrypoint]
        : [entrypoint];
    const r = spawnSync(asNobody[0], [...asNobody.slice(1), "--version"], {
      env: env({ TMPDIR: ro }),
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${ro} is not writable: mount a tmpfs there \\(--tmpfs ${ro}\\)`));
  });

  it.skipIf(!hasTini && !required)(
    "under tini, SIGTERM reaches strongbox (the script execs it): the daemon stops cleanly, exit 0",
    async () => {
      const data = tempDir("ep-data");
      writeFileSync(join(data, "f.txt"), "x\n");
      const repo = makeRepo({ sources: [{ name: "a", type: "files", path: data }] });
      mkdirSync(join(repo.dir, "schedules"));
      writeFileSync(
        join(repo.dir, "schedules/default.yaml"),
        'jobs:\n  - { name: tick, command: backup, cron: "*/1 * * * * *" }\n',
      );
      const child = spawn("tini", ["-s", "-g", "--", entrypoint], {
        env: env({ STRONGBOX_CONFIG: repo.configFile }),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      const done = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      // Until the first run has finished, however slow start-up is on a loaded machine (it used to give up after 10 s).
      await until(() => /job tick finished/.test(stderr) || child.exitCode !== null);
      expect(stderr).toMatch(/schedule .*schedules\/default\.yaml: 1 job/);
      expect(stderr).toMatch(/job tick finished/);
      child.kill("SIGTERM");
      expect(await done).toBe(0);
      expect(stderr).not.toMatch(/"level":"error"/);
    },
    30_000,
  );
});

describe("the Dockerfile", () => {
  const text = readFileSync(join(root, "Dockerfile"), "utf8");
  it("builds on the official Node LTS slim image, runs as a non-root user under tini, with pg_dump 18 from the PostgreSQL apt repository", () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(text).toMatch(/^USER 10001:10001$/m);
    expect(text).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/usr\/local\/bin\/strongbox-entrypoint"\]$/m);
    expect(text).toMatch(/^ARG PG_MAJOR=18$/m);
    expect(text).toMatch(/https:\/\/apt\.postgresql\.org\/pub\/repos\/apt \$\{VERSION_CODENAME\}-pgdg main/);
    expect(text).toMatch(/postgresql-client-\$\{PG_MAJOR\}/);
    expect(text).toMatch(/^COPY docker\/entrypoint\.sh \/usr\/local\/bin\/strongbox-entrypoint$/m);
  });
});

describe("the compose and Kubernetes examples", () => {
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  it("run the Dockerfile's image (this version) as user 10001 with a read-only root and a writable /tmp", () => {
    const compose = parse(readFileSync(join(root, "schedules/examples/docker-compose.yaml"), "utf8")).services
      .strongbox;
    expect(compose.image).toBe(`strongbox:${version}`);
    expect(compose.read_only).toBe(true);
    expect(compose.user).toBe("10001:10001");
    expect(compose.tmpfs.map((t: string) => t.split(":")[0])).toContain("/tmp");
    expect(compose.volumes.some((v: string) => v.split(":")[1] === "/var/lib/strongbox")).toBe(true);

    const cron = parse(readFileSync(join(root, "schedules/examples/kubernetes-cronjob.yaml"), "utf8"));
    expect(cron.kind).toBe("CronJob");
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const [c] = pod.containers;
    expect(c.image).toMatch(new RegExp(`/strongbox:${version.replace(/\./g, "\\.")}$`));
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(c.args.slice(0, 1).concat(c.args.slice(-2, -1))).toEqual(["daemon", "--once"]);
    const mounts = c.volumeMounts.map((m: { mountPath: string }) => m.mountPath);
    for (const m of ["/tmp", "/etc/strongbox", "/var/lib/strongbox"]) expect(mounts).toContain(m);
    expect(c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === "/tmp").readOnly).toBeUndefined();
  });
});
