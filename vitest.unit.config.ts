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

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/e2e/**", "test/faults/**", ...needsServicesOrBuild],
    setupFiles: ["test/helpers/remove-temp-dirs.ts"],
    // The tar fuzz runs 300 inputs here (2000 in `npm test`) unless STRONGBOX_FUZZ_RUNS says otherwise.
    env: { STRONGBOX_FUZZ_RUNS: process.env.STRONGBOX_FUZZ_RUNS ?? "300" },
    testTimeout: 60_000,
    pool: "forks",
    // Every core (vitest's default leaves one free): nothing here waits on a service.
    maxWorkers: availableParallelism(),
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
