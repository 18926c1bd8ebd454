// A forger's name holding a newline or a tab must not forge a line (or a column) of ls, find or
// diff's text output: every row a browse command prints is one line, whatever the manifest says.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeRepo, tempDir } from "../helpers/cli.js";
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

  it("a reader of stdout that goes away (| head): exit 141 at once, no stack trace", async () => {
    const data = tempDir("blines-pipe");
    writeFileSync(join(data, "big.bin"), Buffer.alloc(8 << 20, 0x61));
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    // dump's 8 MB cannot all be in the pipe when the reader closes it (ls of a short list could be).
    const child = spawn(process.execPath, [BIN, "-c", repo.configFile, "dump", "latest", "assets", "big.bin"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    // The reader takes the first bytes and closes its end, as head -c does.
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    expect(code).toBe(141);
    expect(stderr).not.toMatch(/\n\s+at |EPIPE|Unhandled/);
  });
});
