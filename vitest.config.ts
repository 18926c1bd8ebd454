// `npm test`: every test file, with the real services (test/helpers/global-setup.ts starts one Ceph RGW
// and one PostgreSQL for the whole run, shared by every file).
//
// Files run side by side, several at a time: most of their time is spent waiting on child processes and
// the services, not on the CPU. Files share the services, so each file names what it creates there
// uniquely (createDb's database names, makeRepo's S3 prefixes, random bucket names, freePort's ports,
// tempDir's directories). A file that cannot share the machine (it must be alone to be right, e.g. it
// counts every process of a kind or measures the machine) goes in ALONE: those run one at a time, after
// all the others.
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import SlowFirstSequencer from "./test/helpers/slow-first.js";

/** Files that must not share the machine with another test file. */
export const ALONE: string[] = [];

/**
 * How many files run at once: STRONGBOX_TEST_WORKERS, else one per core, at least 2. The files wait on
 * processes and services much of the time, but those processes (node, zstd, age, pg_dump, Ceph) use the
 * CPU too: more workers than cores only makes each file slower, and its time bounds tighter.
 */
export const workers = Number(process.env.STRONGBOX_TEST_WORKERS) || Math.max(2, availableParallelism());

const common = {
  setupFiles: ["test/helpers/die-with-run.ts", "test/helpers/remove-temp-dirs.ts"],
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: "forks" as const,
};

export default defineConfig({
  test: {
    // The global setup is the root's only (not the projects'): it runs once, and both projects get its services.
    globalSetup: ["test/helpers/global-setup.ts"],
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    maxWorkers: workers,
    sequence: { sequencer: SlowFirstSequencer },
    projects: [
      { test: { ...common, name: "shared", include: ["test/**/*.test.ts"], exclude: ALONE } },
      // singleFork: one file at a time, in one process, after the shared ones have all ended.
      { test: { ...common, name: "alone", include: ALONE, poolOptions: { forks: { singleFork: true } } } },
    ],
  },
});
