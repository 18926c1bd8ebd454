// Starts the real services the suite needs (Ceph RGW as S3), once per run, and stops them after.
// A missing service skips its suites locally; with CI=true (or STRONGBOX_REQUIRE_SERVICES=1) it fails the run.
// Everything it starts is stopped at the end, and also when setup fails half-way: test/services/teardown.test.ts.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { createS3Fixture, type S3Fixture } from "./s3-fixture.js";
import { listTempDirs, StartedServices } from "./started-services.js";

export { StartedServices };

export interface PgFixture {
  /** Superuser URL (password auth over TCP) of the throwaway cluster's "postgres" database. */
  url: string;
  host: string;
  port: number;
  password: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Fixture | null;
    pg: PgFixture | null;
  }
}

const here = new URL(".", import.meta.url).pathname;
const required = process.env.CI === "true" || process.env.STRONGBOX_REQUIRE_SERVICES === "1";

function have(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
}

export default function setup(project: TestProject) {
  return setupWith(project, startServices);
}

/**
 * Runs `start` (the real services' start-up, or a stand-in in test/services/teardown.test.ts) and returns
 * the teardown that stops what it started; when `start` fails half-way, stops what it had started, then throws.
 */
export async function setupWith(
  project: TestProject,
  start: (project: TestProject, services: StartedServices) => Promise<void>,
): Promise<() => Promise<void>> {
  const services = new StartedServices();
  try {
    await start(project, services);
  } catch (err) {
    await services.stopAll().catch((e: Error) => console.error(`[setup] ${e.message}`));
    throw err;
  }
  return () => services.stopAll();
}

async function startServices(project: TestProject, services: StartedServices): Promise<void> {
  listTempDirs(services);
  let cephDir: string | undefined;
  let s3: S3Fixture | null = null;
  if (process.env.STRONGBOX_TEST_S3_ENDPOINT) {
    // docker-compose.test.yml (MinIO): users and policies were created by its minio-init job.
    const user = (uid: string, secret: string) => ({ uid, accessKeyId: uid, secretAccessKey: secret });
    s3 = {
      endpoint: process.env.STRONGBOX_TEST_S3_ENDPOINT,
      bucket: "strongbox-test",
      prefix: "spx-prod",
      admin: user("strongboxadmin", "strongboxadmin-secret"),
      writer: user("writer", "writer-secret-key"),
      reader: user("reader", "reader-secret-key"),
      pruner: user("pruner", "pruner-secret-key"),
    };
    console.log(`[setup] using the S3 server at ${s3.endpoint} (docker-compose.test.yml)`);
  } else if (have("radosgw") && have("ceph-mon") && have("ceph-osd")) {
    // Ports below Linux's ephemeral range (32768–60999), so no outgoing connection can hold one; a
    // port another suite took meanwhile gets a second and third try on other ports.
    let port = 0;
    const t0 = Date.now();
    for (let attempt = 1; ; attempt++) {
      cephDir = services.add(mkdtempSync(join(tmpdir(), "strongbox-ceph-")));
      port = 20000 + Math.floor(Math.random() * 12000);
      try {
        execFileSync(join(here, "../services/ceph-rgw.sh"), ["start", cephDir, String(port)], {
          stdio: ["ignore", "ignore", "inherit"],
        });
        break;
      } catch (err) {
        await services.stop(cephDir);
        if (attempt === 3) throw err;
        console.log(`[setup] Ceph did not start on port ${port}; trying another port`);
      }
    }
    s3 = await createS3Fixture(cephDir, `http://127.0.0.1:${port}`);
    console.log(`[setup] Ceph RGW S3 on 127.0.0.1:${port}, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } else if (required) {
    throw new Error(
      "radosgw/ceph-mon/ceph-osd not installed, and CI requires the S3 suites (apt-get install radosgw ceph-mon ceph-osd ceph-common)",
    );
  } else {
    console.log("[setup] Ceph RGW not installed: S3 suites are skipped");
  }
  project.provide("s3", s3);

  let pgFixture: PgFixture | null = null;
  if (process.env.STRONGBOX_TEST_PG_URL) {
    const u = new URL(process.env.STRONGBOX_TEST_PG_URL);
    pgFixture = {
      url: u.toString(),
      host: u.hostname,
      port: Number(u.port || 5432),
      password: decodeURIComponent(u.password),
    };
  } else if (spawnSync("sh", ["-c", "ls /usr/lib/postgresql/*/bin/initdb"]).status === 0) {
    let port = 0;
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    for (let attempt = 1; ; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), "strongbox-pg-"));
      // pg_ctl's immediate stop first (no recovery to wait for), then the sweep.
      services.add(dir, () =>
        execFileSync(join(here, "../services/postgres.sh"), ["stop", dir], { stdio: "inherit", timeout: 30_000 }),
      );
      port = 61000 + Math.floor(Math.random() * 4000); // above the ephemeral range, see Ceph above
      try {
        execFileSync(join(here, "../services/postgres.sh"), ["start", dir, String(port), password], {
          stdio: ["ignore", "ignore", "inherit"],
        });
        break;
      } catch (err) {
        await services.stop(dir);
        if (attempt === 3) throw err;
        console.log(`[setup] PostgreSQL did not start on port ${port}; trying another port`);
      }
    }
    pgFixture = {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      host: "127.0.0.1",
      port,
      password,
    };
    console.log(`[setup] PostgreSQL on 127.0.0.1:${port}`);
  } else if (required) {
    throw new Error(
      "PostgreSQL server not installed, and CI requires the postgres suites (apt-get install postgresql)",
    );
  } else {
    console.log("[setup] PostgreSQL server not installed: postgres suites are skipped");
  }
  project.provide("pg", pgFixture);
}
