// `npm run test:unit`: the fast in-process tests only. No global setup (no Ceph, no PostgreSQL) and no
// build: a file here must not inject a service, run the built CLI or import dist/ (the files excluded
// below do; test/unit/unit-project.test.ts checks that every included file keeps to that).
//
// The files share their worker's module registry (isolate: false): importing src/ and vitest again for
// each of ~100 files was half the run's CPU. So a file must leave no global state behind it (it restores
// process.env, timers and signal listeners it changes, as they all do); the files that replace a module
// with vi.mock run isolated instead, so the stand-in reaches only them (unit-project.test.ts checks
// that every such file is listed).
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/** Tests outside test/e2e and test/faults that need a service or the built CLI: `npm test` runs them. */
export const needsServicesOrBuild = [
  "test/stores/s3.test.ts",
  "test/stores/s3-faults.test.ts",
  "test/repository/lock.test.ts",
  "test/unit/object-streams.test.ts",
  "test/unit/frame-pool.test.ts",
  "test/unit/settle-guard.test.ts",
  "test/services/teardown.test.ts",
  "test/unit/pipe-leftover.test.ts",
];

/** Files that replace a module with vi.mock: each runs with a fresh module registry of its own. */
export const replacesModules = [
  "test/notify/notifier-load-failure.test.ts",
  "test/commands/verify-stop-verdict.test.ts",
];

const common = {
  setupFiles: ["test/helpers/die-with-run.ts", "test/helpers/remove-temp-dirs.ts"],
  // The tar fuzz runs 300 inputs here (2000 in `npm test`) unless STRONGBOX_FUZZ_RUNS says otherwise.
  env: { STRONGBOX_FUZZ_RUNS: process.env.STRONGBOX_FUZZ_RUNS ?? "300" },
  testTimeout: 60_000,
  pool: "forks" as const,
};

const everyFile = ["test/**/*.test.ts"];
const notHere = ["test/e2e/**", "test/faults/**", ...needsServicesOrBuild];

export default defineConfig({
  test: {
    // Every core (vitest's default leaves one free): nothing here waits on a service.
    maxWorkers: availableParallelism(),
    // A worker process runs many files (vitest starts one per file otherwise); the projects below say
    // whether those files also share its module registry.
    poolOptions: { forks: { isolate: false } },
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    projects: [
      {
        test: {
          ...common,
          name: "unit",
          include: everyFile,
          exclude: [...notHere, ...replacesModules],
          poolOptions: { forks: { isolate: false } },
        },
      },
      {
        test: { ...common, name: "unit-isolated", include: replacesModules, poolOptions: { forks: { isolate: true } } },
      },
    ],
  },
});
