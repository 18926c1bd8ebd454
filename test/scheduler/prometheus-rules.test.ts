// Issue 25: the shipped Prometheus alert rules pass `promtool test rules`, every alert has a test that
// makes it fire, and every strongbox metric a rule reads is one the daemon exports.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DaemonMetrics } from "../../src/scheduler/health.js";

const dir = new URL("../../deploy/prometheus/", import.meta.url).pathname;
const has = spawnSync("sh", ["-c", "command -v promtool"]).status === 0;
const required = process.env.CI === "true";

interface Rules {
  groups: { rules: { alert: string; expr: string }[] }[];
}
interface RuleTests {
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}
const rules = parse(readFileSync(`${dir}strongbox-alerts.yml`, "utf8")) as Rules;
const tests = parse(readFileSync(`${dir}strongbox-alerts.test.yml`, "utf8")) as RuleTests;
const alerts = rules.groups.flatMap((g) => g.rules);

describe("deploy/prometheus alert rules", () => {
  it.skipIf(!has && !required)("promtool test rules passes", () => {
    expect(has, "promtool is missing (apt-get install prometheus); CI requires it").toBe(true);
    const r = spawnSync("promtool", ["test", "rules", "strongbox-alerts.test.yml"], { cwd: dir, encoding: "utf8" });
    expect(r.stdout + r.stderr).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  it("every alert has a test case where it fires, and one where it does not", () => {
    const cases = tests.tests.flatMap((t) => t.alert_rule_test);
    for (const a of alerts) {
      expect(
        cases.some((c) => c.alertname === a.alert && c.exp_alerts.length > 0),
        `${a.alert} fires`,
      ).toBe(true);
      expect(
        cases.some((c) => c.alertname === a.alert && c.exp_alerts.length === 0),
        `${a.alert} quiet`,
      ).toBe(true);
    }
    const names = alerts.map((a) => a.alert);
    for (const want of [
      "StrongboxBackupTooOld",
      "StrongboxDrillFailed",
      "StrongboxDrillOverdue",
      "StrongboxJobFailing",
      "StrongboxBackupPartial",
      "StrongboxWalLag",
    ])
      expect(names).toContain(want);
  });

  it("every strongbox metric a rule reads is exported by the daemon", () => {
    const m = new DaemonMetrics();
    Object.assign(m.job("nightly"), { lastSuccess: 1, lastStatus: "failure" });
    m.sourceMaxAge.set("db", 1000);
    m.drillMaxAgeMs = 1000;
    m.recordDrill(true, 0);
    m.wal = { maxLagMs: 300_000, newest: [{ systemId: "42", name: "000000010000000000000001", at: 0 }] };
    m.recordBackup({
      stored_bytes: 1,
      finished_at: new Date(0).toISOString(),
      sources: [{ name: "db", kind: "full", stored_bytes: 1, unreadable: 1 }],
      partial: ["db"],
      failed: [{ name: "gone" }],
    });
    const exported = new Set([...m.prometheus().matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]));
    const read = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\bstrongbox_[a-z_]+/g)].map((x) => x[0])));
    expect([...read].filter((n) => !exported.has(n))).toEqual([]);
  });
});
