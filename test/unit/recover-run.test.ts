// The throwaway recovery server must be the cluster's own major version: another one is refused, naming both.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pollAgain, serverBinary } from "../../src/sources/postgres-cluster/recover-run.js";
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

describe("pollAgain: which errors of a poll of the recovering server mean 'ask again'", () => {
  const error = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
  it.each([
    ["the socket is not there yet", error("connect ENOENT /tmp/x/.s.PGSQL.5432", "ENOENT"), true],
    ["nothing listens yet", error("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"), true],
    ["starting up (57P03)", error("the database system is starting up", "57P03"), true],
    ["not yet accepting connections", error("the database system is not yet accepting connections"), true],
    // The server going down under a poll (seen in CI: recovery stopped on a damaged segment): the
    // next poll sees its exit and reports it with its log.
    ["the connection reset as the server goes down", error("read ECONNRESET", "ECONNRESET"), true],
    ["terminating connection (57P01)", error("terminating connection due to administrator command", "57P01"), true],
    ["shutting down", error("the database system is shutting down", "57P03"), true],
    ["the connection ended by the server", error("Connection terminated unexpectedly"), true],
    ["a refused password", error('password authentication failed for user "x"', "28P01"), false],
    ["a missing role", error('role "x" does not exist', "28000"), false],
    ["a query error", error('relation "x" does not exist', "42P01"), false],
  ])("%s", (_what, err, again) => {
    expect(pollAgain(err)).toBe(again);
  });
});
