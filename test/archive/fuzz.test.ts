// A bounded, seeded mutation fuzz of the tar reader, run by restore (extractTar) and verify (scanTar).
// STRONGBOX_FUZZ_SEED and STRONGBOX_FUZZ_RUNS change the seed and the count; the seed is printed, so a
// failure can be replayed. Properties: no write outside the target, no error but a StrongboxError,
// no hang, bounded memory.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { extractTar, scanTar } from "../../src/archive/extract.js";
import { packTar } from "../../src/archive/tar-pack.js";
import { walkTree } from "../../src/archive/walk.js";
import { StrongboxError } from "../../src/errors.js";
import { tempDir } from "../helpers/cli.js";
import { mulberry32 } from "../helpers/random.js";
import { archive, fileEntry, gnuLong, paxHeader, paxRecord, rawHeader } from "../helpers/tar-craft.js";
import { makeSampleTree } from "../helpers/tree.js";

const SEED = Number(process.env.STRONGBOX_FUZZ_SEED ?? 20261122);
const RUNS = Number(process.env.STRONGBOX_FUZZ_RUNS ?? 2000);
const PER_INPUT_MS = 5000;
const RSS_LIMIT = 1.5 * 1024 ** 3;

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Values that once broke, or could break, a numeric or path field. */
const NASTY = [
  "0.5",
  "1e12",
  "0x10",
  " 12",
  "-100",
  "",
  "NaN",
  "Infinity",
  "99999999999999999999",
  "9007199254740993",
  "../..",
  "/etc",
  "a/../../b",
  "\u001b[31m",
  "0",
  "7",
  "18446744073709551616",
];
const PAX_KEYS = ["path", "linkpath", "size", "uid", "gid", "mtime"];

describe(`tar fuzz (seed ${SEED}, ${RUNS} inputs)`, () => {
  it(
    "restore and verify end in success or a VERIFY error, never write outside, never hang",
    { timeout: 600_000 },
    async () => {
      const rnd = mulberry32(SEED);
      const int = (n: number) => Math.floor(rnd() * n);
      const pick = <T>(xs: T[]) => xs[int(xs.length)];

      const src = tempDir("fuzz-src");
      makeSampleTree(src);
      writeFileSync(join(src, "ASSETS/suid"), "x", { mode: 0o4755 });
      const packed = await collect(
        packTar(src, await walkTree(src, { exclude: () => false, warn: () => {} }), {
          warn: () => {},
          onEntry: () => {},
        }),
      );
      const crafted = archive(
        paxHeader(paxRecord("path", "dir/with a long name ".repeat(8)) + paxRecord("mtime", "1700000000.5")),
        fileEntry("x", "payload"),
        gnuLong("L", "gnu/long/".repeat(20) + "name"),
        fileEntry("y", "more"),
        rawHeader({ name: "s", typeflag: "2", linkname: "x" }),
        rawHeader({ name: "d/", typeflag: "5" }),
      );
      const seeds = [packed, crafted];

      function mutate(base: Buffer): Buffer {
        let b = Buffer.from(base);
        const rounds = 1 + int(4);
        for (let r = 0; r < rounds; r++) {
          const headerAt = 512 * int(Math.max(1, Math.floor(b.length / 512)));
          switch (int(7)) {
            case 0: // flip bytes, mostly in header blocks
              for (let i = 0, n = 1 + int(8); i < n; i++) {
                const at = rnd() < 0.7 ? headerAt + int(512) : int(b.length);
                if (at < b.length) b[at] ^= 1 << int(8);
              }
              break;
            case 1: {
              // rewrite a numeric field with nonsense (keeping the checksum right half the time)
              const [off, len] = pick([
                [100, 8],
                [108, 8],
                [124, 12],
                [136, 12],
              ]);
              if (headerAt + 512 > b.length) break;
              b.fill(0, headerAt + off, headerAt + off + len);
              b.write(pick(NASTY).slice(0, len), headerAt + off, "latin1");
              if (rnd() < 0.3) b[headerAt + off] = 0x80 | int(128);
              if (rnd() < 0.5) fixChecksum(b, headerAt);
              break;
            }
            case 2: // change a type flag
              if (headerAt + 512 <= b.length) {
                b[headerAt + 156] = pick([..."0123456xgLKDSVM"].map((c) => c.charCodeAt(0)));
                fixChecksum(b, headerAt);
              }
              break;
            case 3: // truncate
              b = b.subarray(0, int(b.length));
              break;
            case 4: {
              // splice in a piece of another seed
              const other = pick(seeds);
              const from = 512 * int(other.length / 512);
              const piece = other.subarray(from, from + 512 * (1 + int(4)));
              b = Buffer.concat([b.subarray(0, headerAt), piece, b.subarray(headerAt)]);
              break;
            }
            case 5: // prepend a hostile PAX header
              b = Buffer.concat([
                b.subarray(0, headerAt),
                paxHeader(paxRecord(pick(PAX_KEYS), pick(NASTY))),
                b.subarray(headerAt),
              ]);
              break;
            case 6: // duplicate a block
              b = Buffer.concat([
                b.subarray(0, headerAt + 512),
                b.subarray(headerAt, headerAt + 512),
                b.subarray(headerAt + 512),
              ]);
              break;
          }
        }
        return b;
      }

      const sandbox = tempDir("fuzz-run");
      const outcomes = { ok: 0, refused: 0 };
      let maxRss = 0;
      const t0 = Date.now();
      for (let i = 0; i < RUNS; i++) {
        const input = mutate(pick(seeds));
        const target = join(sandbox, "t");
        mkdirSync(target);
        // Feed it in uneven chunks, as a decompressor would.
        const chunks: Buffer[] = [];
        for (let off = 0; off < input.length;) {
          const n = 1 + int(rnd() < 0.2 ? 64 : 70_000);
          chunks.push(input.subarray(off, off + n));
          off += n;
        }
        for (const run of [
          () => extractTar(Readable.from(chunks), target, { warn: () => {} }),
          () => scanTar(Readable.from(chunks), { warn: () => {} }),
        ]) {
          let timer: NodeJS.Timeout | undefined;
          const result = await Promise.race([
            run().then(
              () => "ok" as const,
              (e: unknown) => e,
            ),
            new Promise((resolve) => (timer = setTimeout(() => resolve("hang"), PER_INPUT_MS))),
          ]);
          clearTimeout(timer);
          if (result === "hang") throw new Error(`input ${i} (seed ${SEED}) hung for ${PER_INPUT_MS} ms`);
          if (result === "ok") outcomes.ok++;
          else {
            if (!(result instanceof StrongboxError) || (result.code !== "VERIFY" && result.code !== "SOURCE")) {
              throw new Error(
                `input ${i} (seed ${SEED}): not a clean error: ${String((result as Error)?.stack ?? result)}`,
              );
            }
            outcomes.refused++;
          }
        }
        expect(readdirSync(sandbox), `input ${i} (seed ${SEED}) wrote outside the target`).toEqual(["t"]);
        rmSync(target, { recursive: true, force: true });
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
        expect(maxRss, `input ${i}: memory`).toBeLessThan(RSS_LIMIT);
      }
      const seconds = (Date.now() - t0) / 1000;
      console.log(
        `[fuzz] seed ${SEED}: ${RUNS} inputs × (restore, verify) in ${seconds.toFixed(1)} s (${((2 * RUNS) / seconds).toFixed(0)} runs/s); ` +
          `${outcomes.ok} accepted, ${outcomes.refused} refused with a VERIFY/SOURCE error; peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB`,
      );
      expect(outcomes.refused).toBeGreaterThan(RUNS / 2);
      expect(outcomes.ok).toBeGreaterThan(0);
    },
  );
});

function fixChecksum(b: Buffer, at: number) {
  b.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += b[i];
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", at + 148, 8, "latin1");
}
