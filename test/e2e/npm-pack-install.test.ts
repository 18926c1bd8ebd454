import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";

const root = new URL("../../", import.meta.url).pathname;

// A clean copy without dist/: `npm pack` must build it (prepack), and the tarball must install and run.
describe("npm pack → npm install -g --prefix → the installed binary runs the quick start", () => {
  it(
    "packs with a build, ships docs/ and not dist/sea, installs offline-from-cache, and runs the quick start's steps (init, config check, backup, list, verify, restore, diff)",
    { timeout: 240_000 },
    () => {
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
        "schedules",
        "docs",
      ])
        if (existsSync(join(root, f))) cpSync(join(root, f), join(src, f), { recursive: true });
      cpSync(join(root, "node_modules"), join(src, "node_modules"), { recursive: true, verbatimSymlinks: true });
      const npm = (args: string[], cwd: string) =>
        execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
          cwd,
          encoding: "utf8",
          env: { ...process.env, npm_config_update_notifier: "false" },
        });
      npm(["pack", "--pack-destination", work], src);
      const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
      expect(tgz).toMatch(/^strongbox-.*\.tgz$/);
      const prefix = join(work, "prefix");
      npm(["install", "-g", "--prefix", prefix, "--prefer-offline", join(work, tgz)], work);
      const bin = join(prefix, "bin", "strongbox");
      expect(existsSync(bin)).toBe(true);
      const run = (args: string[]) => execFileSync(bin, args, { cwd: work, encoding: "utf8" });
      expect(run(["--version"])).toMatch(/^\d+\.\d+\.\d+/);
      // The installed package carries the docs and the example units, not the single-file build.
      const pkg = join(prefix, "lib", "node_modules", "strongbox");
      for (const f of ["README.md", "docs/format.md", "docs/operations.md", "schedules/default.yaml", "dist/cli.js"])
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
        run([
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
      run(["-c", cfg, "config", "check"]);
      const id = run(["-c", cfg, "-q", "backup", "now"]).trim();
      expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
      expect(run(["-c", cfg, "list"])).toContain(id);
      expect(run(["-c", cfg, "verify", "latest"])).toContain(`${id}  OK`);
      run(["-c", cfg, "restore", "latest", "--to-dir", join(demo, "restored")]);
      for (const [from, to] of [
        ["projects", "projects"],
        ["rundowns", "rundowns"],
        ["ASSETS", "assets"],
      ]) {
        expect(execFileSync("diff", ["-r", join(spx, from), join(demo, "restored", to)], { encoding: "utf8" })).toBe(
          "",
        );
      }
      rmSync(work, { recursive: true, force: true });
    },
  );
});
