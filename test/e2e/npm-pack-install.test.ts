import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";

const root = new URL("../../", import.meta.url).pathname;

// A clean copy without dist/: `npm pack` must build it (prepack), and the tarball must install and run.
describe("npm pack → npm install -g --prefix → the installed binary runs the quick start", () => {
  it("packs with a build, installs offline-from-cache, backs up, verifies and restores", { timeout: 240_000 }, () => {
    const work = tempDir("pack");
    const src = join(work, "src");
    mkdirSync(src);
    for (const f of ["package.json", "package-lock.json", "tsconfig.json", "README.md", "bin", "src", "schedules"]) if (existsSync(join(root, f))) cpSync(join(root, f), join(src, f), { recursive: true });
    cpSync(join(root, "node_modules"), join(src, "node_modules"), { recursive: true, verbatimSymlinks: true });
    const npm = (args: string[], cwd: string) => execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
    npm(["pack", "--pack-destination", work], src);
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
    expect(tgz).toMatch(/^strongbox-.*\.tgz$/);
    const prefix = join(work, "prefix");
    npm(["install", "-g", "--prefix", prefix, "--prefer-offline", join(work, tgz)], work);
    const bin = join(prefix, "bin", "strongbox");
    expect(existsSync(bin)).toBe(true);
    const run = (args: string[]) => execFileSync(bin, args, { cwd: work, encoding: "utf8" });
    expect(run(["--version"])).toMatch(/^\d+\.\d+\.\d+/);
    // The quick start's steps with the installed binary: keygen, config, backup, verify, restore.
    const data = join(work, "data");
    mkdirSync(join(data, "projects"), { recursive: true });
    writeFileSync(join(data, "projects", "show.json"), JSON.stringify({ title: "evening news" }));
    const recipient = run(["keygen", "-o", join(work, "identity.txt")]).trim().split(/\s+/).find((w) => w.startsWith("age1"))!;
    writeFileSync(
      join(work, "strongbox.yaml"),
      `version: 1\nrepository: { url: "file://${join(work, "repo")}" }\nencryption: { recipients: [${recipient}], identity_file: ${join(work, "identity.txt")} }\nsources: [{ name: projects, type: files, path: ${join(data, "projects")} }]\nlock_dir: ${work}\n`,
    );
    const id = run(["-c", join(work, "strongbox.yaml"), "-q", "backup", "now"]).trim();
    expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(run(["-c", join(work, "strongbox.yaml"), "verify", id])).toContain(`${id}  OK`);
    run(["-c", join(work, "strongbox.yaml"), "restore", id, "--to-dir", join(work, "out")]);
    expect(execFileSync("diff", ["-r", join(data, "projects"), join(work, "out", "projects")], { encoding: "utf8" })).toBe("");
    rmSync(work, { recursive: true, force: true });
  });
});
