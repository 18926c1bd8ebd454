import { describe, expect, it } from "vitest";
import { displayUrl, libpqEnv } from "../../src/sources/postgres/connection.js";

describe("postgres connection settings", () => {
  it("turns a URL into libpq environment variables, TLS settings included", () => {
    expect(
      libpqEnv("postgres://app:p%40ss@db.internal:6543/spx?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem"),
    ).toMatchObject({
      PGHOST: "db.internal",
      PGPORT: "6543",
      PGUSER: "app",
      PGPASSWORD: "p@ss",
      PGDATABASE: "spx",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: "/etc/ssl/ca.pem",
    });
  });

  it("supports a unix socket directory given as ?host=", () => {
    expect(libpqEnv("postgresql://postgres@/app?host=/var/run/postgresql")).toMatchObject({
      PGHOST: "/var/run/postgresql",
      PGDATABASE: "app",
    });
  });

  it("shows URLs without their password", () => {
    expect(displayUrl("postgres://app:secret@db/spx")).toBe("postgres://app:***@db/spx");
    expect(displayUrl("postgres://app@db/spx")).toBe("postgres://app@db/spx");
  });
});
