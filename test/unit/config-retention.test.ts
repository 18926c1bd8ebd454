import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { DaemonMetrics } from "../../src/scheduler/health.js";

const recipient = generateIdentity().recipient;
const config = (retention: unknown) =>
  stringify({
    version: 1,
    repository: { url: "file:///srv/backups" },
    encryption: { recipients: [recipient] },
    sources: [{ name: "a", type: "files", path: "/srv/a" }],
    retention,
  });

describe("retention.clock_skew and retention.max_delete_share", () => {
  it("default to 15m and 0.5", () => {
    expect(parseConfig(config({ keep_last: 1 }), {}).retention).toMatchObject({
      clock_skew: "15m",
      max_delete_share: 0.5,
    });
    expect(parseConfig(config({ keep_last: 1, clock_skew: "2h", max_delete_share: 1 }), {}).retention).toMatchObject({
      clock_skew: "2h",
      max_delete_share: 1,
    });
  });

  it.each([
    [{ keep_last: 1, clock_skew: "soon" }, /retention\.clock_skew: clock_skew must be a duration/],
    [{ keep_last: 1, max_delete_share: 0 }, /retention\.max_delete_share: max_delete_share must be more than 0/],
    [{ keep_last: 1, max_delete_share: 1.5 }, /retention\.max_delete_share: max_delete_share must be at most 1/],
    [
      { keep_last: 1, max_delete_share: "half" },
      /retention\.max_delete_share: max_delete_share must be a number between 0 and 1/,
    ],
  ])("%o is refused, naming the key", (retention, message) => {
    expect(() => parseConfig(config(retention), {})).toThrow(message);
  });
});

describe("/metrics: untrusted backups", () => {
  it("strongbox_untrusted_backups appears once a prune has counted them", () => {
    const m = new DaemonMetrics();
    expect(m.prometheus()).not.toMatch(/strongbox_untrusted_backups/);
    m.untrustedBackups = 20;
    expect(m.prometheus()).toMatch(/^# TYPE strongbox_untrusted_backups gauge\nstrongbox_untrusted_backups 20$/m);
  });
});
