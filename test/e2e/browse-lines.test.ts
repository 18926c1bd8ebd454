// A forger's name holding a newline or a tab must not forge a line (or a column) of ls, find or
// diff's text output: every row a browse command prints is one line, whatever the manifest says.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, sha256 } from "../helpers/forge.js";
import { archive, fileEntry } from "../helpers/tar-craft.js";

describe("browse output: one line per entry", () => {
  it("a newline or tab in a forged name is escaped in ls, find and diff", async () => {
    const data = tempDir("blines-data");
    writeFileSync(join(data, "real.txt"), "the real data\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const good = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(good.code).toBe(0);
    const name = "a.pdf\nfile  0644           1  2026-01-01T00:00:00Z  assets/\tforged.pdf";
    const body = Buffer.from("owned\n");
    const entry = {
      path: name,
      type: "file",
      size: body.length,
      mode: 0o644,
      mtime: "1762140300",
      sha256: sha256(body),
    };
    const id = await forgeBackup(join(repo.dir, "repository"), repo.recipient, {
      files: { assets: { tar: archive(fileEntry(name, body)), entries: [entry] } },
    });
    for (const args of [
      ["ls", id],
      ["find", "*.pdf"],
      ["diff", JSON.parse(good.stdout).id, id],
    ]) {
      const r = await runCli(["-c", repo.configFile, ...args]);
      expect([args[0], r.code]).toEqual([args[0], 0]);
      const lines = r.stdout.split("\n").filter((l) => l.includes("pdf"));
      expect([args[0], lines.length]).toEqual([args[0], 1]);
      expect(r.stdout).not.toContain("\t");
      expect(lines[0]).toContain("a.pdf\\nfile");
    }
  }, 120_000);
});
