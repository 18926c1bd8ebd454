// A database password given as a URL parameter (?password=, which libpq and node-postgres take) is a
// secret like one in the userinfo: masked in what strongbox prints, and handed to pg_dump as
// PGPASSWORD, never left in a failure reason that /healthz or the daemon's state file keeps.
import { describe, expect, it } from "vitest";
import { failureReason } from "../../src/commands/job.js";
import { displayUrl, libpqEnv } from "../../src/sources/postgres/connection.js";
import { redact } from "../../src/secrets.js";

const URL_ = "postgres://alice@db.example:5432/app?sslmode=disable&password=PGQUERYSECRET&sslpassword=KEYSECRET";

describe("a password in a postgres URL's query", () => {
  it("is masked by displayUrl and by redact", () => {
    for (const shown of [displayUrl(URL_), redact(`cannot connect to ${URL_}: refused`)]) {
      expect(shown).not.toMatch(/PGQUERYSECRET|KEYSECRET/);
      expect(shown).toMatch(/password=(\*\*\*|%2A%2A%2A)/);
      expect(shown).toContain("sslmode=disable");
    }
  });

  it("redact masks a password holding ) or ' whole", () => {
    expect(redact("postgres://h/d?password=Xy)9!kQ2z end")).toBe("postgres://h/d?password=*** end");
    expect(redact("postgres://h/d?password=a'b")).toBe("postgres://h/d?password=***");
  });

  it("redact keeps what follows the URL", () => {
    expect(redact("(postgres://h/d?password=s3cr3t) and 'postgres://h/d?password=x2'")).toBe(
      "(postgres://h/d?password=***) and 'postgres://h/d?password=***'",
    );
  });

  it("goes to pg_dump as PGPASSWORD", () => {
    expect(libpqEnv(URL_).PGPASSWORD).toBe("PGQUERYSECRET");
  });

  it("is masked in a job's failure reason (notifications, audit, /healthz, the daemon's state)", () => {
    expect(failureReason(new Error(`source db: cannot connect to ${URL_}`))).not.toMatch(/PGQUERYSECRET/);
  });
});
