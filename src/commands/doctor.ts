import { fileUrlPath, isFileUrl } from "../config/file-url.js";
import { accessSync, constants, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { Role } from "../config/schema.js";
import { openStore } from "../stores/open-store.js";
import type { S3Store } from "../stores/s3.js";
import type { CommandContext } from "./context.js";
import { identityFindings } from "./doctor-identity.js";
import { backupFindings } from "./doctor-backups.js";
import { signingFindings } from "./doctor-signing.js";
import { lockDirProblem } from "../config/local-paths.js";
import { configWarnings } from "../config/load.js";
import { sourceLabel, unresolvedUnder, unresolvedValues } from "../config/deferred.js";
import { stateFindings } from "./doctor-state.js";
import { clusterFindings } from "./doctor-cluster.js";
import { probeServer } from "./doctor-probe.js";
import { readPushed } from "../wal/last-pushed.js";
import { defaultStateDir } from "../differential/state.js";
import { proxyFor } from "../net/proxy.js";
import { StrongboxError } from "../errors.js";

type Status = "ok" | "warn" | "fail";
interface Finding {
  area: string;
  status: Status;
  detail: string;
}

/** What each role must and must not be able to do (README, "S3 setup and least privilege"). */
const EXPECTED: Record<Role, Partial<Record<"list" | "get" | "delete" | "put", boolean>>> = {
  writer: { put: true, list: false, get: false, delete: false },
  reader: { list: true, get: true, put: true, delete: false },
  pruner: { list: true, get: true, delete: true },
};

function lockDirFinding(dir: string): [Status, string] {
  const problem = lockDirProblem(dir);
  return problem ? ["fail", problem] : ["ok", `${dir} writable`];
}

export async function doctorCommand(ctx: CommandContext): Promise<void> {
  const config = ctx.config();
  const out: Finding[] = [{ area: "config", status: "ok", detail: `${ctx.configFile} is valid` }];
  const add = (area: string, status: Status, detail: string) => out.push({ area, status, detail });
  // A value this host cannot resolve only stops the commands that use it (a reader host has no DATABASE_URL).
  for (const u of unresolvedValues(config)) add("config", "warn", `${u.problem} (needed by ${u.needed_by})`);
  const [major, minor] = process.versions.node.split(".").map(Number);
  const nodeOk = major > 22 || (major === 22 && minor >= 15);
  add("node", nodeOk ? "ok" : "fail", `Node.js ${process.version}${nodeOk ? "" : " (strongbox needs >= 22.15)"}`);

  for (const f of identityFindings(config)) add(f.area, f.status, f.detail);
  for (const f of signingFindings(config)) add(f.area, f.status, f.detail);
  // The identity file's and the signing key's modes are in their own findings above.
  for (const w of configWarnings(config).filter(
    (x) => !x.startsWith("encryption.identity_file") && !x.startsWith("signing.key_file"),
  ))
    add("secret file", "warn", w);

  if (config.lock_dir) add("lock dir", ...lockDirFinding(config.lock_dir));
  for (const f of stateFindings(config)) add(f.area, f.status, f.detail);
  const targets = [
    ...(config.repository.url.startsWith("s3://")
      ? [["S3", config.repository.s3?.endpoint ?? "https://s3.amazonaws.com"]]
      : []),
    ...config.notify.map((n) => [n.type, n.url]),
  ];
  if (["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"].some((k) => ctx.env[k])) {
    // Where each outbound connection goes; the proxy URL is shown without its credentials.
    add(
      "proxy",
      "ok",
      targets
        .map(
          ([what, url]) =>
            `${what} ${new URL(url).host} ${proxyFor(url, ctx.env) ? `through ${proxyFor(url, ctx.env)}` : "direct (NO_PROXY)"}`,
        )
        .join("; ") || "set, but nothing here goes out over HTTP",
    );
  }

  for (const [i, s] of config.sources.entries()) {
    if (unresolvedUnder(config, [["sources", i]]).length) {
      add(
        `source ${sourceLabel(config, i)}`,
        "warn",
        "not checked: it uses values this host does not have (see config above)",
      );
    } else if (s.type === "postgres-cluster") {
      const pushed = await readPushed(config.state_dir ?? defaultStateDir(ctx.env));
      for (const f of await clusterFindings(s, pushed)) add(f.area, f.status, f.detail);
    } else if (s.type === "files") {
      try {
        accessSync(s.path, constants.R_OK | constants.X_OK);
        add(`source ${s.name}`, statSync(s.path).isDirectory() ? "ok" : "fail", `${s.path} readable`);
      } catch (err) {
        add(`source ${s.name}`, "fail", `${s.path}: ${(err as NodeJS.ErrnoException).code}`);
      }
    } else {
      const found = await probeServer(s, "pg_dump", async (c, server, tool) => {
        const ssl = await c.query<{ ssl: boolean }>(
          "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl",
        );
        const detail = `PostgreSQL ${server.version}; ${tool.path} ${tool.version}; TLS ${ssl.rows[0].ssl ? "on" : "off"}`;
        return [{ area: `source ${s.name}`, status: "ok", detail }];
      });
      for (const f of found) add(f.area, f.status, f.detail);
    }
  }

  const url = config.repository.url;
  // The role that lists the backups below: any on file://, on S3 one whose list probe succeeded.
  let lister: Role | undefined;
  if (isFileUrl(url)) {
    lister = "reader";
    const dir = fileUrlPath(url);
    try {
      accessSync(dir, constants.W_OK);
      add("repository", "ok", `${dir} writable`);
    } catch (err) {
      add(
        "repository",
        (err as NodeJS.ErrnoException).code === "ENOENT" ? "warn" : "fail",
        `${dir}: ${(err as NodeJS.ErrnoException).code}${(err as NodeJS.ErrnoException).code === "ENOENT" ? " (created by the first backup)" : ""}`,
      );
    }
  } else {
    const endpoint = config.repository.s3?.endpoint ?? "https://s3.amazonaws.com";
    const local = /^http:\/\/(127\.|localhost|\[::1\])/.test(endpoint);
    add(
      "TLS",
      endpoint.startsWith("https://") || local ? "ok" : "warn",
      endpoint.startsWith("https://")
        ? `${endpoint} uses TLS`
        : `${endpoint} is plain HTTP${local ? " (loopback)" : ": credentials and metadata cross the network unencrypted"}`,
    );
    // Under backups/ (not a backup id, so no listing takes it for one): the printed policy lets the writer put nowhere else.
    const probeKey = `backups/doctor-probe-${randomBytes(4).toString("hex")}`;
    const probes: string[] = [];
    for (const role of ["writer", "reader", "pruner"] as Role[]) {
      if (!config.repository.s3?.credentials[role]) {
        add(`role ${role}`, "ok", "not configured on this host");
        continue;
      }
      if (unresolvedUnder(config, [["repository", "s3", "credentials", role]]).length) {
        add(
          `role ${role}`,
          "warn",
          "not checked: its credentials use values this host does not have (see config above)",
        );
        continue;
      }
      const store = (await openStore(config, role)) as S3Store;
      const results: string[] = [];
      let status: Status = "ok";
      for (const [action, expected] of Object.entries(EXPECTED[role]) as [
        "list" | "get" | "delete" | "put",
        boolean,
      ][]) {
        const key =
          action === "put"
            ? role === "reader"
              ? `drills/${probeKey.replace("backups/", "")}.json`
              : probeKey
            : `${probeKey}-missing`;
        const r = await store.probe(action, key);
        if (action === "put" && r === "allowed") probes.push(key);
        results.push(`${action} ${r}`);
        if (r.startsWith("error")) status = "fail";
        else if (expected && r === "denied") status = "fail";
        else if (!expected && r === "allowed" && status === "ok") status = "warn";
      }
      const more = status === "warn" ? ` — can do more than it needs (see 'strongbox policy ${role}')` : "";
      add(`role ${role}`, status, results.join(", ") + more);
      if (role === "writer" && !status.startsWith("fail")) {
        // A writer that can file drill reports can forge "pass" for a backup never drilled.
        const drillKey = `drills/${probeKey.replace("backups/", "")}-writer.json`;
        if ((await store.probe("put", drillKey)) === "allowed") {
          probes.push(drillKey);
          add(
            "writer scope",
            "warn",
            "the writer can put drill reports (drills/): a stolen writer key could forge drill results; apply the policy 'strongbox policy' prints (the writer writes backups/ only)",
          );
        }
      }
      if (role !== "writer" && results.includes("list allowed") && !lister) lister = role;
    }
    if (probes.length) {
      if (config.repository.s3?.credentials.pruner) {
        const pruner = await openStore(config, "pruner");
        for (const k of probes) await pruner.delete(k).catch(() => {});
        add("probes", "ok", `${probes.length} probe object(s) removed with the pruner role`);
      } else
        add(
          "probes",
          "warn",
          `left probe object(s) ${probes.join(", ")}: remove them, or configure the pruner role here`,
        );
    }
  }

  if (lister) for (const f of await backupFindings(config, lister)) add(f.area, f.status, f.detail);

  const width = Math.max(...out.map((f) => f.area.length));
  const color = Boolean((ctx.stdout as NodeJS.WriteStream).isTTY);
  const paint = (s: Status) =>
    color
      ? `\x1b[${s === "ok" ? 32 : s === "warn" ? 33 : 31}m${s.toUpperCase().padEnd(4)}\x1b[0m`
      : s.toUpperCase().padEnd(4);
  ctx.print(
    { ok: !out.some((f) => f.status === "fail"), findings: out },
    out.map((f) => `${paint(f.status)}  ${f.area.padEnd(width)}  ${f.detail}`).join("\n"),
  );
  const failed = out.filter((f) => f.status === "fail");
  if (failed.length)
    throw new StrongboxError(
      "SOURCE",
      `doctor found ${failed.length} problem(s): ${failed.map((f) => f.area).join(", ")}`,
    );
}
