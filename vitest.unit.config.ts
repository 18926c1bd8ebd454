// `npm run test:unit`: the fast in-process tests only. No global setup (no Ceph, no PostgreSQL) and no
// build: a file here must not inject a service, run the built CLI or import dist/ (the files excluded
// below do; test/unit/unit-project.test.ts checks that every included file keeps to that).
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/** Tests outside test/e2e and test/faults that need a service or the built CLI: `npm test` runs them. */
export const needsServicesOrBuild = [
  "test/stores/s3.test.ts",
  "test/stores/s3-faults.test.ts",
  "test/repository/lock.test.ts",
  "test/unit/object-streams.test.ts",
  "test/unit/settle-guard.test.ts",
  "test/services/teardown.test.ts",
  "test/unit/pipe-leftover.test.ts",
];

/**
 * Files that need a process of their own: they signal their own process, or install handlers on it,
 * and a handler left by one file would answer another's signal. The rest share their worker's process
 * (isolate: false): a fork and the module loading it does per file was over half of this run's CPU.
 */
export const ownProcess = [
  "test/commands/interrupt.test.ts",
  "test/commands/interrupt-options.test.ts",
  "test/commands/verify-stop-verdict.test.ts",
  "test/commands/lock-wait.test.ts",
  "test/unit/verify-wal-interrupt.test.ts",
  "test/unit/cpu-hog.test.ts",
  "test/services/teardown-vitest.test.ts",
];

const common = {
  setupFiles: ["test/helpers/remove-temp-dirs.ts"],
  // The tar fuzz runs 300 inputs here (2000 in `npm test`) unless STRONGBOX_FUZZ_RUNS says otherwise.
  env: { STRONGBOX_FUZZ_RUNS: process.env.STRONGBOX_FUZZ_RUNS ?? "300" },
  testTimeout: 60_000,
  pool: "forks" as const,
};
const excluded = ["test/e2e/**", "test/faults/**", ...needsServicesOrBuild];

export default defineConfig({
  test: {
    // Every core (vitest's default leaves one free): nothing here waits on a service.
    maxWorkers: availableParallelism(),
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    projects: [
      {
        test: {
          ...common,
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [...excluded, ...ownProcess],
          isolate: false,
        },
      },
      { test: { ...common, name: "own-process", include: ownProcess } },
    ],
  },
});
