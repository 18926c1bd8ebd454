/**
 * Backups one second apart without sleeping a second between them. Each call returns the environment of
 * the next `backup now`: its clock (STRONGBOX_TEST_CLOCK_OFFSET_MS, see src/repository/backup-clock.ts)
 * runs one second further ahead than the previous run's. Ids have one-second resolution, so backups made
 * one after the other get distinct seconds, increasing in the order they were made.
 */
export function secondApart(): () => NodeJS.ProcessEnv {
  let n = 0;
  return () => ({ STRONGBOX_TEST_CLOCK_OFFSET_MS: String(1000 * n++) });
}
