const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** "26h", "90m", "7d", "1h30m" → milliseconds; null if malformed. */
export function parseDuration(s: string): number | null {
  const re = /(\d+(?:\.\d+)?)([smhdw])/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]];
    matched = re.lastIndex;
  }
  return matched === s.length && s.length > 0 ? total : null;
}

/** Milliseconds as a short duration for messages: "45s", "10m", "1.5h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${+(ms / 1000).toFixed(2)}s`;
  return ms >= 3600_000
    ? `${+(ms / 3600_000).toFixed(1)}h`
    : ms >= 60_000
      ? `${+(ms / 60_000).toFixed(1)}m`
      : `${Math.round(ms / 1000)}s`;
}
