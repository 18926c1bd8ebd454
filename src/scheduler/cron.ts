// Cron lives in time/ (a lower layer, which config/ may use too); the scheduler's name for it.
export { CronSchedule, cronErrors } from "../time/cron.js";
