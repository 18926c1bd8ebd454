// issue 21 item 3: the hand-restore script's quoting, with names that would break it if complete.json's
// validation were bypassed (records built here directly, not through parseComplete).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderRestoreScript, shQuote, type ScriptSource } from "../../src/engine/restore-script.js";
import type { CompleteRecord } from "../../src/repository/complete.js";
import { tempDir } from "../helpers/cli.js";

const HOSTILE = [
  "plain",
  "it's",
  "'",
  "''",
  "a'b'c",
  "$(touch PWNED)",
  "`touch PWNED`",
  "${HOME}",
  "a\nb",
  '"; touch PWNED; "',
  "\\'\\",
  "-n",
  "*",
  " lead and trail ",
  "é ünïcode ✓",
  "\t\r\u0007",
];

/** What sh makes of a quoted word: printf %s of it, run in a scratch directory (where PWNED would appear). */
function shWord(quoted: string): { out: string; dir: string } {
  const dir = tempDir("psq");
  const r = spawnSync("/bin/sh", ["-c", `printf '%s' ${quoted}`], { cwd: dir, encoding: "utf8" });
  expect(r.status).toBe(0);
  return { out: r.stdout, dir };
}

const rec = (id: string, o: Partial<CompleteRecord> = {}): CompleteRecord => ({
  format: "strongbox/1",
  id,
  started_at: "2026-11-22T02:15:00.000Z",
  finished_at: "2026-11-22T02:16:00.000Z",
  host: "h",
  tool_version: "t",
  compression: "zstd",
  sources: [{ name: "projects", type: "files" }],
  objects: [
    { key: `backups/${id}/manifest.json.zst.age`, size: 1, sha256: "a".repeat(64) },
    { key: `backups/${id}/projects.tar.zst.age`, size: 1, sha256: "b".repeat(64), source: "projects" },
  ],
  warnings: 0,
  ...o,
});
const ID = "20261122T021500Z-3fa9c1";
const good: ScriptSource[] = [{ source: "projects", backup: { rec: rec(ID), signed: true } }];

describe("shQuote", () => {
  it.each(HOSTILE)("sh reads %j back as exactly that word, running nothing", (s) => {
    const { out, dir } = shWord(shQuote(s));
    expect(out).toBe(s);
    expect(existsSync(join(dir, "PWNED"))).toBe(false);
  });

  it("refuses a NUL byte (sh cannot carry it)", () => {
    expect(() => shQuote("a\0b")).toThrow(/NUL/);
  });
});

describe("renderRestoreScript with hostile records", () => {
  it("a valid record gives a script sh -n accepts, every name quoted", () => {
    const s = renderRestoreScript(good, {
      trustedKeys: ["ssh-ed25519 AAAAC3Nza it's $(touch PWNED)"],
      identityFile: "/etc/strongbox/identity file.txt",
    });
    const file = join(tempDir("psn"), "s.sh");
    writeFileSync(file, s);
    expect(spawnSync("/bin/sh", ["-n", file]).status).toBe(0);
    expect(s).toContain(`'b${"b".repeat(63)}  projects.tar.zst.age'`);
    expect(s).toContain(`"$REPO"/backups/'${ID}'/'projects.tar.zst.age'`);
    // the trusted key's line, quoted: sh writes exactly it into allowed_signers
    const line = s.split("\n").find((l) => l.startsWith("printf '%s\\n' 'strongbox namespaces"))!;
    const dir = tempDir("psk");
    const r = spawnSync("/bin/sh", ["-c", line.replace('>> "$ALLOWED"', "> out")], { cwd: dir, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, "out"), "utf8")).toBe(
      `strongbox namespaces="strongbox-backup" ssh-ed25519 AAAAC3Nza it's $(touch PWNED)\n`,
    );
    expect(existsSync(join(dir, "PWNED"))).toBe(false);
  });

  it.each([
    [
      "a source name that is a command",
      { source: "x;touch PWNED", backup: { rec: rec(ID), signed: false } },
      /is not a source name/,
    ],
    [
      "an object key with a quote",
      {
        source: "projects",
        backup: {
          rec: rec(ID, {
            objects: [
              { key: `backups/${ID}/projects'$(id).tar.zst.age`, size: 1, sha256: "b".repeat(64), source: "projects" },
            ],
          }),
          signed: false,
        },
      },
      /is not a name a script may use/,
    ],
    [
      "an object key outside its backup",
      {
        source: "projects",
        backup: {
          rec: rec(ID, {
            objects: [{ key: `backups/../../etc/passwd`, size: 1, sha256: "b".repeat(64), source: "projects" }],
          }),
          signed: false,
        },
      },
      /is not a name a script may use/,
    ],
    [
      "a backup id that is a path",
      {
        source: "projects",
        backup: {
          rec: rec("../../x", {
            objects: [
              { key: "backups/../../x/projects.tar.zst.age", size: 1, sha256: "b".repeat(64), source: "projects" },
            ],
          }),
          signed: false,
        },
      },
      /is not a name a script may use/,
    ],
    [
      "a hash that is not one",
      {
        source: "projects",
        backup: {
          rec: rec(ID, {
            objects: [
              { key: `backups/${ID}/projects.tar.zst.age`, size: 1, sha256: "x' ; touch PWNED #", source: "projects" },
            ],
          }),
          signed: false,
        },
      },
      /has no SHA-256/,
    ],
    [
      "a differential without its base",
      {
        source: "projects",
        backup: {
          rec: rec(ID, {
            objects: [
              {
                key: `backups/${ID}/projects.tar.zst.age`,
                size: 1,
                sha256: "b".repeat(64),
                source: "projects",
                base: "20261115T021500Z-aaaaaa",
              },
            ],
          }),
          signed: false,
        },
      },
      /differential of 20261115T021500Z-aaaaaa, which was not given/,
    ],
  ] as [string, ScriptSource, RegExp][])("%s is refused", (_what, source, err) => {
    expect(() => renderRestoreScript([source], { trustedKeys: [] })).toThrow(err);
  });

  it("an identity path that would break its default is refused; a hostile repository description stays one comment line", () => {
    expect(() => renderRestoreScript(good, { trustedKeys: [], identityFile: '/x/"$(touch PWNED)"' })).toThrow(
      /identity_file holds a quote/,
    );
    const s = renderRestoreScript(good, { trustedKeys: [], repository: "file:///r\ntouch PWNED" });
    expect(s).not.toMatch(/^touch PWNED/m);
    expect(renderRestoreScript(good, { trustedKeys: [], repository: "file:///r\u001b[2J" })).not.toContain("\u001b");
  });
});
