// The order `npm test` starts its files in. With several workers, the run lasts at least as long as its
// slowest file, plus whatever was started before it: a 100 s file started last keeps one worker busy
// alone at the end. Vitest's own order puts the files that took longest in the last run first, but a
// fresh clone has no such record (it then starts the largest files first, and the slowest are small).
// So the files known to be slow go first, in this order, and vitest's order follows for the rest.
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slowest files of a fresh-clone run on 2 cores (seconds, one file at a time), slowest first.
 * A missing or renamed file here only loses its head start.
 */
export const SLOW_FIRST = [
  "test/faults/kill.test.ts", // 111
  "test/e2e/pitr.test.ts", // 54
  "test/services/teardown.test.ts", // 47
  "test/e2e/wal-kill.test.ts", // 45
  "test/e2e/differential.test.ts", // 42
  "test/e2e/s3-faults.test.ts", // 42
  "test/e2e/browse-forged.test.ts", // 39
  "test/e2e/forged-prune.test.ts", // 38
  "test/e2e/daemon-deadline.test.ts", // 36
  "test/e2e/differential-bombs.test.ts", // 34
  "test/e2e/differential-chain.test.ts", // 33
  "test/e2e/bounds.test.ts", // 33
  "test/e2e/postgres.test.ts", // 28
  "test/stores/s3-faults.test.ts", // 26
  "test/faults/restore-kill.test.ts", // 26
  "test/e2e/drill.test.ts", // 25
  "test/e2e/browse.test.ts", // 25
  "test/e2e/json-one-document.test.ts", // 25
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
