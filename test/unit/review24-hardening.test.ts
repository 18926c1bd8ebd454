// Small hardening found in the review of the merged WAL/PITR/browse/status change.
import { describe, expect, it } from "vitest";
import { recoveryTarget } from "../../src/commands/cluster-restore.js";
import { pitrSettings } from "../../src/commands/pitr-setup.js";
import { compilePattern } from "../../src/browse/pattern.js";
import type { Config } from "../../src/config/schema.js";
import { StrongboxError } from "../../src/errors.js";
import { isLoopback } from "../../src/scheduler/status-page.js";

describe("isLoopback", () => {
  it("is true only for loopback addresses, never for a host name that starts with 127.", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) expect([h, isLoopback(h)]).toEqual([h, true]);
    for (const h of ["127.attacker.example", "127.0.0.1.nip.io", "0.0.0.0", "::", "10.0.0.1", "1270.0.0.1"])
      expect([h, isLoopback(h)]).toEqual([h, false]);
  });
});

describe("compilePattern", () => {
  it("a set a regexp cannot compile ([z-a]) is a usage error, not a crash", () => {
    for (const p of ["[z-a]", "x[9-0]y"]) {
      let err: unknown;
      try {
        compilePattern(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StrongboxError);
      expect((err as StrongboxError).code).toBe("USAGE");
      expect((err as Error).message).toContain(p);
    }
  });
});

describe("restore_command and archive_command", () => {
  it("a '%' in the config path reaches strongbox as '%' (PostgreSQL reads %f, %p and %% itself)", () => {
    const t = recoveryTarget({}, "/etc/strong%fbox/strongbox.yaml");
    expect(t.restoreCommand).toContain("/etc/strong%%fbox/strongbox.yaml");
    expect(t.restoreCommand.endsWith(" wal fetch %f %p")).toBe(true);
    const config = {
      sources: [{ name: "pg", type: "postgres-cluster", url: "postgres://u@h/d" }],
    } as unknown as Config;
    const p = pitrSettings(config, "/etc/50%p/s.yaml", "/usr/bin/strongbox");
    expect(p.settings.archive_command).toBe("/usr/bin/strongbox -c /etc/50%%p/s.yaml wal push %p");
    expect(p.restore_command).toBe("/usr/bin/strongbox -c /etc/50%%p/s.yaml wal fetch %f %p");
  });
});
