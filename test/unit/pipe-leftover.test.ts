// A kill -9 between block-pipe's mkdir and its rm (mkfifo runs in between) leaves a private directory
// in TMPDIR. It is named after its process, so the next backup's sweep (commands/leftovers.ts) can tell
// that its writer is gone and remove it; a live run's directory, or anything else, is never touched.
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PIPE_PREFIX } from "../../src/sources/postgres/block-pipe.js";
import { sweepOrphans, tempName } from "../../src/temp-names.js";
import { tempDir } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

const BLOCK_PIPE = new URL("../../dist/sources/postgres/block-pipe.js", import.meta.url).href;

describe("block-pipe's private directory after a kill -9", () => {
  it("is left named after its dead process, and only that directory is swept", async () => {
    const tmp = tempDir("pipe-tmp");
    // A mkfifo that never returns while its caller lives: the kill lands in the window.
    const bin = tempDir("pipe-bin");
    writeFileSync(join(bin, "mkfifo"), "#!/bin/sh\nwhile kill -0 $PPID 2>/dev/null; do sleep 0.05; done\n");
    chmodSync(join(bin, "mkfifo"), 0o755);
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", `(await import(${JSON.stringify(BLOCK_PIPE)})).openBlockPipe();`],
      { env: { ...process.env, TMPDIR: tmp, PATH: `${bin}:${process.env.PATH}` }, stdio: "ignore" },
    );
    const exited = new Promise((r) => child.on("exit", r));
    await until(() => readdirSync(tmp).some((n) => n.startsWith(PIPE_PREFIX)));
    child.kill("SIGKILL");
    await exited;
    const [left] = readdirSync(tmp);
    expect(left).toMatch(new RegExp(`^${PIPE_PREFIX}[0-9a-f]{8}-${child.pid}-[0-9a-f]+$`));

    // Beside it: a live run's directory (this process), and entries under the prefix that are not directories.
    const live = tempName(PIPE_PREFIX);
    mkdirSync(join(tmp, live));
    writeFileSync(join(tmp, `${PIPE_PREFIX}not-a-dir`), "");
    symlinkSync("/", join(tmp, tempName(PIPE_PREFIX).replace(`-${process.pid}-`, `-${2 ** 22 + 7}-`)));
    expect(await sweepOrphans(tmp, PIPE_PREFIX, "dir", { remove: false })).toEqual({ count: 1, bytes: 0 });
    expect(await sweepOrphans(tmp, PIPE_PREFIX, "dir", { remove: true })).toEqual({ count: 1, bytes: 0 });
    expect(existsSync(join(tmp, left))).toBe(false);
    expect(existsSync(join(tmp, live))).toBe(true);
    expect(readdirSync(tmp)).toHaveLength(3);
  });

  it("is never removed recursively: only its FIFO, then the empty directory; another mode or owner stays", async () => {
    const tmp = tempDir("pipe-tmp");
    const dead = (n: number) => tempName(PIPE_PREFIX).replace(`-${process.pid}-`, `-${2 ** 22 + n}-`);
    // A dead run's own directory with its FIFO: removed.
    const own = join(tmp, dead(1));
    mkdirSync(own, { mode: 0o700 });
    writeFileSync(join(own, "out"), "");
    // Something else in one (a directory someone could swap for a symlink): the directory stays, and so does it.
    const other = join(tmp, dead(2));
    mkdirSync(join(other, "s"), { recursive: true, mode: 0o700 });
    chmodSync(other, 0o700);
    writeFileSync(join(other, "s", "precious"), "x");
    // Not the mode block-pipe makes: untouched.
    const open = join(tmp, dead(3));
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const owned = join(tmp, dead(4));
    mkdirSync(owned, { mode: 0o700 });
    if (process.getuid?.() === 0) chownSync(owned, 65534, 65534);
    await sweepOrphans(tmp, PIPE_PREFIX, "dir", { remove: true });
    expect(existsSync(own)).toBe(false);
    expect(existsSync(join(other, "s", "precious"))).toBe(true);
    expect(existsSync(open)).toBe(true);
    if (process.getuid?.() === 0) expect(existsSync(owned)).toBe(true);
  });
});

describe("block-pipe's mkfifo", () => {
  it("gets PATH and nothing else of strongbox's environment (which may hold keys and URLs)", async () => {
    const bin = tempDir("pipe-env-bin");
    const dump = join(tempDir("pipe-env-out"), "env.txt");
    // Records its environment, then makes the FIFO with the real mkfifo.
    writeFileSync(join(bin, "mkfifo"), `#!/bin/sh\nenv > ${dump}\nPATH=/usr/bin:/bin exec mkfifo "$@"\n`);
    chmodSync(join(bin, "mkfifo"), 0o755);
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", `(await import(${JSON.stringify(BLOCK_PIPE)})).openBlockPipe(); process.exit(0);`],
      {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, AWS_SECRET_ACCESS_KEY: "AWSENVSECRET" },
        stdio: "ignore",
      },
    );
    await new Promise((r) => child.on("exit", r));
    const names = readFileSync(dump, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("=")[0])
      .filter((n) => !["PWD", "SHLVL", "_", "OLDPWD"].includes(n)); // the shell's own
    expect(names).toEqual(["PATH"]);
  });
});
