// The throwaway recovery server must be the cluster's own major version: another one is refused, naming both.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { serverBinary } from "../../src/sources/postgres-cluster/recover-run.js";
import { tempDir } from "../helpers/cli.js";

/** A pg_bin_dir whose `postgres --version` says `version`. */
function fakeBinDir(version: string): string {
  const dir = join(tempDir("fake-pg-bin"), "bin");
  mkdirSync(dir);
  const bin = join(dir, "postgres");
  writeFileSync(bin, `#!/bin/sh\necho "postgres (PostgreSQL) ${version}"\n`);
  chmodSync(bin, 0o755);
  return dir;
}

describe("serverBinary: the postgres of the cluster's major version", () => {
  it("takes pg_bin_dir's postgres when it is that version", async () => {
    const dir = fakeBinDir("15.8");
    expect(await serverBinary(15, dir)).toBe(join(dir, "postgres"));
  });

  it("refuses a newer major version, naming both and how to fix it", async () => {
    const dir = fakeBinDir("17.2");
    await expect(serverBinary(15, dir)).rejects.toThrow(
      /the cluster is PostgreSQL 15, but the server binary found is .*postgres 17\.2: install postgresql-15 or point pg_bin_dir/,
    );
  });

  it("refuses an older one", async () => {
    await expect(serverBinary(15, fakeBinDir("13.1"))).rejects.toThrow(/postgres 13\.1 .* is older than the server/);
  });
});
