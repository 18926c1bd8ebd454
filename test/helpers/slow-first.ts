// The order `npm test` starts its files in. With several workers, the run lasts at least as long as its
// slowest file, plus whatever was started before it: a 100 s file started last keeps one worker busy
// alone at the end. Vitest's own order puts the files that took longest in the last run first, but a
// fresh clone has no such record (it then starts the largest files first, and the slowest are small).
// So the files known to be slow go first, in this order, and vitest's order follows for the rest.
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slowest files of a fresh-clone run on 2 cores (seconds, two files at a time: CI of 553ea94), slowest first.
 * A missing or renamed file here only loses its head start.
 */
export const SLOW_FIRST = [
  "test/e2e/pitr.test.ts", // 78
  "test/faults/kill.test.ts", // 52
  "test/e2e/pitr-drill.test.ts", // 39
  "test/e2e/wal-async.test.ts", // 37
  "test/e2e/daemon-deadline.test.ts", // 34
  "test/e2e/wal-kill.test.ts", // 30
  "test/e2e/s3-faults.test.ts", // 29
  "test/services/teardown.test.ts", // 29
  "test/faults/restore-sessions.test.ts", // 28
  "test/e2e/npm-pack-install.test.ts", // 27
  "test/e2e/wal-signed-forged.test.ts", // 27
  "test/e2e/differential-bombs.test.ts", // 26
  "test/stores/s3-faults.test.ts", // 26
  "test/e2e/daemon-jobs22.test.ts", // 26
  "test/e2e/json-one-document.test.ts", // 25
  "test/e2e/bounds.test.ts", // 24
  "test/e2e/scale-manifest.test.ts", // 22
  "test/faults/restore-kill.test.ts", // 22
  "test/e2e/postgres.test.ts", // 21
  "test/faults/restore-staging.test.ts", // 21
];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.findIndex((s) => f.moduleId.endsWith(`/${s}`));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the files not listed keep vitest's order, after the listed ones.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
