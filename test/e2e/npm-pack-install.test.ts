import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cp } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";

const root = new URL("../../", import.meta.url).pathname;

// A clean copy without dist/: `npm pack` must build it (prepack), and the tarball must install and run.
// Every step runs asynchronously: a minute of synchronous copying or building on a loaded machine
// blocks this worker's event loop past vitest's 60 s limit on its own calls to the main process.
const execFileAsync = promisify(execFile);
describe("npm pack → npm install -g --prefix → the installed binary runs the quick start", () => {
  it(
    "packs with a build, ships docs/ and not dist/sea, installs offline-from-cache, and runs the quick start's steps (init, config check, backup, list, verify, restore, diff)",
    { timeout: 240_000 },
    async () => {
      const work = tempDir("pack");
      const src = join(work, "src");
      mkdirSync(src);
      for (const f of [
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "README.md",
        "bin",
        "src",
        "scripts",
        "schedules",
        "docs",
      ])
        if (existsSync(join(root, f))) await cp(join(root, f), join(src, f), { recursive: true });
      await cp(join(root, "node_modules"), join(src, "node_modules"), { recursive: true, verbatimSymlinks: true });
      const npm = (args: string[], cwd: string) =>
        execFileAsync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
          cwd,
          encoding: "utf8",
          maxBuffer: 1 << 26,
          env: { ...process.env, npm_config_update_notifier: "false" },
        });
      await npm(["pack", "--pack-destination", work], src);
      const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
      expect(tgz).toMatch(/^strongbox-.*\.tgz$/);
      const prefix = join(work, "prefix");
      await npm(["install", "-g", "--prefix", prefix, "--prefer-offline", join(work, tgz)], work);
      const bin = join(prefix, "bin", "strongbox");
      expect(existsSync(bin)).toBe(true);
      const run = async (args: string[]) =>
        (await execFileAsync(bin, args, { cwd: work, encoding: "utf8", maxBuffer: 1 << 26 })).stdout;
      expect(await run(["--version"])).toMatch(/^\d+\.\d+\.\d+/);
      // The installed package carries the docs and the example units, not the single-file build.
      const pkg = join(prefix, "lib", "node_modules", "strongbox");
      for (const f of [
        "README.md",
        "docs/format.md",
        "docs/operations.md",
        "schedules/default.yaml",
        "dist/bundle/cli.js",
      ])
        expect(existsSync(join(pkg, f)), f).toBe(true);
      expect(existsSync(join(pkg, "dist", "sea"))).toBe(false);
      // scripts/quickstart.sh's steps, with the installed binary: init, config check, backup, list, verify, restore, diff.
      const demo = join(work, "demo");
      const spx = join(demo, "spx");
      mkdirSync(join(spx, "projects", "show-1"), { recursive: true });
      mkdirSync(join(spx, "rundowns"));
      mkdirSync(join(spx, "ASSETS", "images"), { recursive: true });
      writeFileSync(join(spx, "rundowns", "evening.json"), JSON.stringify({ name: "Evening news" }));
      writeFileSync(join(spx, "projects", "show-1", "item-1.json"), JSON.stringify({ template: "lower-third" }));
      writeFileSync(join(spx, "ASSETS", "images", "logo.png"), Buffer.alloc(200_000, 9));
      expect(
        await run([
          "init",
          demo,
          "--files",
          join(spx, "projects"),
          "--files",
          join(spx, "rundowns"),
          "--files",
          join(spx, "ASSETS"),
        ]),
      ).toMatch(/age1[a-z0-9]{58}/);
      const cfg = join(demo, "strongbox.yaml");
      await run(["-c", cfg, "config", "check"]);
      const id = (await run(["-c", cfg, "-q", "backup", "now"])).trim();
      expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
      expect(await run(["-c", cfg, "list"])).toContain(id);
      expect(await run(["-c", cfg, "verify", "latest"])).toContain(`${id}  OK`);
      await run(["-c", cfg, "restore", "latest", "--to-dir", join(demo, "restored")]);
      for (const [from, to] of [
        ["projects", "projects"],
        ["rundowns", "rundowns"],
        ["ASSETS", "assets"],
      ]) {
        expect((await execFileAsync("diff", ["-r", join(spx, from), join(demo, "restored", to)])).stdout).toBe("");
      }
      rmSync(work, { recursive: true, force: true });
    },
  );
});
