import type { Check } from "../sources/source.js";

/** One finished job run, as the status page's timeline shows it. */
export interface RunRecord {
  job: string;
  command: string;
  /** Unix ms. */
  started: number;
  duration_s: number;
  status: "success" | "failure";
  failure?: string;
  backup?: {
    id: string;
    stored_bytes: number;
    partial: string[];
    failed: string[];
    sources: { name: string; kind: "full" | "diff"; stored_bytes: number }[];
  };
  drill?: { id: string; backup_id: string; result: "pass" | "fail"; checks: Check[] };
}

/** The runs kept (in memory and in state_dir): enough for weeks of nightly jobs, bounded whatever runs. */
export const HISTORY_CAP = 300;

export function pushRun(history: RunRecord[], r: RunRecord): void {
  history.push(r);
  if (history.length > HISTORY_CAP) history.splice(0, history.length - HISTORY_CAP);
}
