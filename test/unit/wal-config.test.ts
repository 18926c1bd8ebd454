import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";

const recipient = generateIdentity().recipient;
const config = (source: Record<string, unknown>) =>
  stringify({
    version: 1,
    repository: { url: "file:///srv/backups" },
    encryption: { recipients: [recipient] },
    sources: [{ name: "cluster", type: "postgres-cluster", ...source }],
  });

describe("a postgres-cluster source", () => {
  it("takes a replication url and wal.max_lag (default 5m)", () => {
    const cfg = parseConfig(config({ url: "postgres://repl:pw@db:5432/postgres" }), {});
    expect(cfg.sources[0]).toMatchObject({ type: "postgres-cluster", wal: { max_lag: "5m" } });
    const lag = parseConfig(config({ url: "postgres://repl:pw@db/postgres", wal: { max_lag: "90s" } }), {});
    expect(lag.sources[0]).toMatchObject({ wal: { max_lag: "90s" } });
  });

  it("leaves an unset ${VAR} url to the commands that need it (wal push does not)", () => {
    const cfg = parseConfig(config({ url: "${PG_REPLICATION_URL}" }), {});
    expect(cfg.sources[0].type).toBe("postgres-cluster");
  });

  it.each([
    [{ url: "http://db/x" }, /sources\[0\]\.url: url must use postgres: or postgresql:/],
    [{ url: "postgres://db/x", wal: { max_lag: "soon" } }, /sources\[0\]\.wal\.max_lag: max_lag must be a duration/],
    [{ url: "postgres://db/x", wal: { max_lag: "0s" } }, /max_lag must be a duration longer than 0/],
    [{ url: "postgres://db/x", wal: { lag: "5m" } }, /sources\[0\]\.wal\.lag: unknown key/],
    [{ url: "postgres://db/x", schemas: ["a"] }, /sources\[0\]\.schemas: unknown key/],
  ])("%o is refused, naming the key", (source, message) => {
    expect(() => parseConfig(config(source), {})).toThrow(message);
  });
});
