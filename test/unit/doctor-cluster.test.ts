// doctor's judgement of a postgres-cluster source's archiving settings and WAL lag (pure parts).
import { describe, expect, it } from "vitest";
import { judgeClusterSettings, judgeWalLag } from "../../src/commands/doctor-cluster.js";

const good = {
  wal_level: "replica",
  archive_mode: "on",
  archive_command: "/usr/bin/strongbox -c /etc/strongbox/strongbox.yaml wal push %p",
  archive_timeout: "60",
};

describe("doctor: a postgres-cluster source's settings", () => {
  it("what pitr setup prints passes", () => {
    expect(judgeClusterSettings("db", good, true, 300_000)).toEqual([]);
  });

  it("names each setting that stops archiving, and a role without REPLICATION", () => {
    const found = judgeClusterSettings(
      "db",
      { wal_level: "minimal", archive_mode: "off", archive_command: "", archive_timeout: "0" },
      false,
      300_000,
    );
    expect(found.filter((f) => f.status === "fail").map((f) => f.detail)).toEqual([
      expect.stringMatching(/^wal_level is minimal: set wal_level = replica/),
      expect.stringMatching(/^archive_mode is off: set archive_mode = on/),
      expect.stringMatching(/^archive_command is empty: set it to strongbox's wal push/),
      expect.stringMatching(/lacks REPLICATION/),
    ]);
    expect(found.filter((f) => f.status === "warn").map((f) => f.detail)).toEqual([
      expect.stringMatching(/^archive_timeout is 0s/),
    ]);
  });

  it("another archiver, or an archive_timeout longer than wal.max_lag, is reported", () => {
    const other = judgeClusterSettings("db", { ...good, archive_command: "cp %p /mnt/wal/%f" }, true, 300_000);
    expect(other.map((f) => f.status)).toEqual(["fail"]);
    const slow = judgeClusterSettings("db", { ...good, archive_timeout: "600" }, true, 300_000);
    expect(slow.map((f) => f.status)).toEqual(["warn"]);
  });

  it("WAL lag: the newest record against wal.max_lag", () => {
    const now = 1_000_000_000;
    const rec = (at: number) => ({ systemId: "7", name: "000000010000000000000003", at });
    expect(judgeWalLag("db", [rec(now - 60_000), rec(now - 900_000)], 300_000, now).status).toBe("ok");
    expect(judgeWalLag("db", [rec(now - 900_000)], 300_000, now)).toMatchObject({
      status: "fail",
      detail: "newest archived 000000010000000000000003 900s ago (wal.max_lag 300s)",
    });
    expect(judgeWalLag("db", [], 300_000, now).status).toBe("warn");
  });
});
