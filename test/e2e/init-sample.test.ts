// Issue 23: the sample config `strongbox init` writes is the one generated from the schema, and with
// every commented-out block uncommented it passes `strongbox config check` (the variables it uses set).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { sampleConfig } from "../../src/config/sample.js";
import { tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { SAMPLE_ENV, uncommentLike } from "../helpers/sample-env.js";

describe("strongbox init's sample config, uncommented", async () => {
  const dir = tempDir("initsample");
  const init = await runCli([
    "init",
    join(dir, "cfg"),
    "--files",
    join(dir, "projects"),
    "--files",
    join(dir, "assets"),
  ]);
  const configFile = join(dir, "cfg", "strongbox.yaml");
  const written = readFileSync(configFile, "utf8");
  const c = parse(written);
  const input = {
    recipient: c.encryption.recipients[0],
    identityFile: c.encryption.identity_file,
    repository: c.repository.url,
    files: c.sources.map((s: { name: string; path: string }) => ({ name: s.name, path: s.path })),
    signing: { keyFile: c.signing.key_file, publicKey: c.signing.trusted[0].key },
  };
  const enabled = sampleConfig(input, { enableAll: true });

  it("init writes the sample generated from the schema", () => {
    expect(init.code, init.stderr).toBe(0);
    expect(written).toBe(sampleConfig(input));
  });

  it("passes config check as written", async () => {
    const r = await runCli(["-c", configFile, "config", "check"]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("with every commented-out block uncommented, passes config check", async () => {
    // The uncommented text is the written one with "# " taken off the commented-out lines (and nothing else).
    expect(written.split("\n").length).toBe(enabled.split("\n").length);
    expect(uncommentLike(written, enabled)).toBe(enabled);
    const file = join(dir, "cfg", "all.yaml");
    writeFileSync(file, enabled, { mode: 0o600 });
    const r = await runCli(["-c", file, "config", "check"], { env: SAMPLE_ENV });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/OK \(3 sources: projects, assets, db;/);
  });

  it("without the variables it uses, config check names them", async () => {
    const r = await runCli(["-c", join(dir, "cfg", "all.yaml"), "config", "check"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notify\[0\]\.url: environment variable HEALTHCHECKS_URL is not set/);
  });
});
