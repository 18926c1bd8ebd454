import { spawnSync } from "node:child_process";
import { closeSync, constants, fstatSync, mkdirSync, openSync, rmdirSync, unlinkSync, type Stats } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { BLOCK, blockPool } from "../../codecs/block-pool.js";
import { tempName } from "../../temp-names.js";

/** Its private directory's name: `tempName`, so the next backup removes one that a kill -9 left (commands/leftovers.ts). */
export const PIPE_PREFIX = "strongbox-pipe-";

/**
 * A pipe for a tool's stdout whose read end fills pooled 2 MiB blocks in place (codecs/block-pool.ts).
 * Read the usual way, each 64 KiB read of a pipe is a fresh buffer: a 600 MB dump cost ~0.8 core-s
 * just to read (and its garbage), against ~0.3 s here, with no buffer allocated per read.
 *
 * Node has no pipe(2), so it is a FIFO made in a private 0700 directory and unlinked at once, both
 * ends open: the write end goes to the child as its stdout (and is closed here right after the
 * spawn), the read end is read through net.Socket's `onread`, straight into the block being filled.
 * Where no FIFO can be made (no mkfifo, not Linux) the caller uses an ordinary pipe.
 */
export function openBlockPipe(): { writeFd: number; closeWriteEnd: () => void; readable: Readable } | undefined {
  if (process.platform !== "linux") return undefined;
  let dir: string | undefined;
  try {
    const d = join(tmpdir(), tempName(PIPE_PREFIX));
    mkdirSync(d, { mode: 0o700 });
    dir = d;
    const path = join(dir, "out");
    // PATH alone: mkfifo needs nothing of strongbox's environment (which may hold keys and URLs).
    if (
      spawnSync("mkfifo", ["-m", "600", path], { stdio: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } })
        .status !== 0
    )
      return undefined;
    // The read end first, non-blocking (a FIFO without a writer would block its open), then the write end.
    const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let writeFd: number;
    try {
      writeFd = openSync(path, constants.O_WRONLY);
    } catch {
      closeSync(readFd);
      return undefined;
    }
    if (!ourFifo(fstatSync(readFd), fstatSync(writeFd))) {
      closeSync(readFd);
      closeSync(writeFd);
      return undefined;
    }
    let open = true;
    const closeWriteEnd = () => {
      if (open) closeSync(writeFd);
      open = false;
    };
    return { writeFd, closeWriteEnd, readable: new BlockReader(readFd) };
  } catch {
    return undefined;
  } finally {
    // Its FIFO by name, then the directory: never a recursive removal (see temp-names.ts, sweepOrphans).
    if (dir)
      removeQuietly(
        () => unlinkSync(join(dir!, "out")),
        () => rmdirSync(dir!),
      );
  }
}

function removeQuietly(...steps: (() => void)[]): void {
  for (const step of steps)
    try {
      step();
    } catch {
      // gone already, or not ours to remove
    }
}

/**
 * Whether both ends opened are the FIFO this process made: a FIFO, ours, readable and writable by us
 * alone, and the same one at both ends. The directory is private (0700), but under a TMPDIR that others
 * can write without the sticky bit it could be renamed away and replaced between mkfifo and open; then
 * the dump would flow through someone else's FIFO. Anything else falls back to an ordinary pipe.
 */
export function ourFifo(read: Stats, write: Stats, uid = process.getuid?.()): boolean {
  return (
    read.isFIFO() &&
    (uid === undefined || read.uid === uid) &&
    (read.mode & 0o777) === 0o600 &&
    read.dev === write.dev &&
    read.ino === write.ino
  );
}

/**
 * Emits whole pooled blocks, the last one partial. A block handed on is the consumer's: this side
 * never touches it again (the compressor gives it back to the pool when zstd is done with it).
 */
class BlockReader extends Readable {
  private block = blockPool.take();
  private fill = 0;
  private readonly socket: Socket;

  constructor(fd: number) {
    super({ highWaterMark: BLOCK });
    this.socket = new Socket({
      fd,
      readable: true,
      writable: false,
      onread: {
        buffer: () => this.block.subarray(this.fill),
        callback: (n: number) => this.filled(n),
      },
    });
    this.socket.on("end", () => this.finish());
    this.socket.on("error", (err) => this.destroy(err));
  }

  /** Returns false (pausing the socket) when the reader has enough buffered. */
  private filled(n: number): boolean {
    this.fill += n;
    if (this.fill < BLOCK) return true;
    const full = this.block;
    this.block = blockPool.take();
    this.fill = 0;
    return this.push(full);
  }

  private finish(): void {
    if (this.fill > 0) this.push(this.block.subarray(0, this.fill));
    else blockPool.give(this.block);
    this.fill = 0;
    this.push(null);
  }

  override _read(): void {
    this.socket.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}
