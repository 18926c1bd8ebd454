/** How far back the first backup of a secondApart clock is dated: room for 60 backups, all in the past. */
const START_MS = -60_000;

/**
 * Backups one second apart without sleeping a second between them. Each call returns the environment of
 * the next `backup now`: its clock (STRONGBOX_TEST_CLOCK_OFFSET_MS, see src/repository/backup-clock.ts)
 * runs one second further than the previous run's, starting a minute behind the wall clock. Ids have
 * one-second resolution, so backups made one after the other get distinct seconds, increasing in the
 * order they were made; and they stay in the past, so that a backup made or forged afterwards at the
 * wall clock's time is the newest, as it would be after sleeping, and none is listed "in the future".
 * reset() starts again a minute back: a file that shares one clock calls it before each test.
 */
export function secondApart(): (() => NodeJS.ProcessEnv) & { reset(): void } {
  let n = 0;
  return Object.assign(() => ({ STRONGBOX_TEST_CLOCK_OFFSET_MS: String(START_MS + 1000 * n++) }), {
    reset: () => void (n = 0),
  });
}
