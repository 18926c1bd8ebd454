// The FIFO pg_dump writes into is used only when both ends are the one this process made: a FIFO,
// ours, 0600, the same inode at both ends. Otherwise (the private directory swapped under a TMPDIR that
// others can write) the dump goes through an ordinary pipe instead.
import { spawnSync } from "node:child_process";
import { closeSync, constants, fstatSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ourFifo } from "../../src/sources/postgres/block-pipe.js";
import { tempDir } from "../helpers/cli.js";

const opened: number[] = [];
afterAll(() => opened.forEach((fd) => closeSync(fd)));

/** Both ends of a new FIFO of `mode`, as block-pipe opens them. */
function fifo(mode: string): [number, number] {
  const path = join(tempDir("fifo"), "out");
  expect(spawnSync("mkfifo", ["-m", mode, path]).status).toBe(0);
  const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(path, constants.O_WRONLY);
  opened.push(r, w);
  return [r, w];
}

describe("block-pipe's FIFO is its own", () => {
  it("ours, 0600, the same at both ends: used", () => {
    const [r, w] = fifo("600");
    expect(ourFifo(fstatSync(r), fstatSync(w))).toBe(true);
  });
  it("another owner, another mode, a regular file, or two different FIFOs: refused", () => {
    const [r, w] = fifo("600");
    expect(ourFifo(fstatSync(r), fstatSync(w), (process.getuid?.() ?? 0) + 1)).toBe(false);
    const [r2, w2] = fifo("666");
    expect(ourFifo(fstatSync(r2), fstatSync(w2))).toBe(false);
    expect(ourFifo(fstatSync(r), fstatSync(w2))).toBe(false);
    const file = join(tempDir("fifo"), "plain");
    writeFileSync(file, "", { mode: 0o600 });
    const f = openSync(file, "r");
    opened.push(f);
    expect(ourFifo(fstatSync(f), fstatSync(f))).toBe(false);
  });
});
