// The limit in `npm run bench`: what each stage of strongbox's work costs on this machine, and from
// that, the best wall time a number of cores allows for one line's work.
//
//   measureStages(dir)  core-seconds per GB for Node's ChaCha20-Poly1305 (in 64 KiB age chunks) and
//                       SHA-256, measured in this process, and wall seconds per GB for writing a file and
//                       fsyncing it (a disk, not a core). zstd -1 and tar are measured by the bench on
//                       each line's own data (workOf).
//   limitOf(work, n)    the best wall time on n cores:
//                         max( all core-seconds ÷ n,  the longest chain that cannot be split,  disk seconds )
//                       (disk: writing and fsyncing the object on backup, creating the files on restore)
//                       A chain that cannot be split is work one thread must do in order: the SHA-256 of
//                       one stored object, or pg_dump / pg_restore, which run as one process each.
//   share(limit, s)     limit ÷ measured seconds: 1.0 means at the limit.
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

const GB = 1e9;

/** Core-seconds (user + system of this process) that `fn` takes, per GB of `bytes`. */
function corePerGb(bytes, fn) {
  fn(); // warm up (JIT, OpenSSL tables)
  const rounds = 3;
  const t0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6 / ((rounds * bytes) / GB);
}

/** Per-stage costs in Node on this machine: `chacha` and `sha256` in core-seconds per GB, `fsyncWrite` in wall seconds per GB. */
export function measureStages(dir, mb = 64) {
  const size = mb * 1024 * 1024;
  const random = randomBytes(size);
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const CHUNK = 64 * 1024;
  const out = {
    chacha: corePerGb(size, () => {
      for (let off = 0; off < size; off += CHUNK) {
        const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
        c.update(random.subarray(off, off + CHUNK));
        c.final();
        c.getAuthTag();
      }
    }),
    sha256: corePerGb(size, () => createHash("sha256").update(random).digest()),
  };
  const file = join(dir, "fsync-probe");
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, "w");
  for (let off = 0; off < size; off += 1 << 20) writeSync(fd, random, off, Math.min(1 << 20, size - off));
  fsyncSync(fd);
  closeSync(fd);
  out.fsyncWrite = Number(process.hrtime.bigint() - t0) / 1e9 / (size / GB);
  rmSync(file, { force: true });
  return out;
}

/**
 * The work of one line, from its sizes (bytes) and what its tools cost on its own data (seconds):
 *   op         "backup", "restore" or "verify"
 *   plain      bytes before compression (the files' bytes, or the dump's)
 *   stored     bytes of the encrypted object
 *   perFile    every file is hashed (a files source; a database dump has no files)
 *   zstdCpu    core-seconds of the zstd CLI (-1, one thread) compressing (backup) or decompressing the
 *              line's own data; 0 where strongbox stores blocks raw because they do not compress (media)
 *   toolCpu    core-seconds of the work a tool does for strongbox, on the line's own data: GNU tar's walk,
 *              read and framing (backup), its file creation (restore) or its listing (verify); pg_dump;
 *              pg_restore
 *   toolChain  seconds of it that cannot be split (pg_dump, pg_restore and the row counts after it)
 *   createWall wall seconds of creating the restored files (GNU tar -x of the same tree): the file
 *              system's time, which cores do not shorten (on this machine's disk, 20,000 small files
 *              take seconds of tar's wall time for a fraction of a core-second)
 */
export function workOf(line, c) {
  const stored = line.stored / GB;
  return {
    cpu: {
      tool: line.toolCpu ?? 0,
      zstd: line.zstdCpu ?? 0,
      chacha: c.chacha * stored,
      "sha256 stored": c.sha256 * stored,
      "sha256 files": line.perFile ? (c.sha256 * line.plain) / GB : 0,
    },
    chain: Math.max(line.toolChain ?? 0, c.sha256 * stored),
    disk: line.op === "backup" ? c.fsyncWrite * stored : (line.createWall ?? 0),
  };
}

/** The best wall time `cores` cores allow for `work` (see the top of this file). */
export function limitOf(work, cores) {
  const core = Object.values(work.cpu).reduce((a, b) => a + b, 0);
  return Math.max(core / cores, work.chain, work.disk);
}

/** Several lines' work done in one run (sources side by side): the sum of the CPU, the longest chain, the sum of the disk. */
export function sumWork(works) {
  const cpu = {};
  for (const w of works) for (const [k, v] of Object.entries(w.cpu)) cpu[k] = (cpu[k] ?? 0) + v;
  return {
    cpu,
    chain: Math.max(...works.map((w) => w.chain)),
    disk: works.reduce((a, w) => a + w.disk, 0),
  };
}

export const share = (limit, seconds) => limit / seconds;
