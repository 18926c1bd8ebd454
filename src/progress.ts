import type { Logger } from "./log.js";

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The live lines of every step in progress on one logger, shown as one status line. */
const boards = new WeakMap<Logger, Map<Progress, string>>();

function draw(log: Logger, board: Map<Progress, string>): void {
  if (board.size) log.status([...board.values()].join("  |  "));
  else log.clearStatus();
}

/** Every step in progress in this process, for the status page's live view. */
const live = new Set<Progress>();

/** The steps in progress now: label, bytes, total, rate, ETA (the fields of the structured progress line). */
export function liveProgress(now = Date.now()): Record<string, unknown>[] {
  return [...live].map((p) => p.snapshot(now));
}

/**
 * Progress of one long step: a live line on a terminal (bytes, rate, ETA), a structured log line
 * every `logEveryMs` otherwise. Steps that run at once share the status line.
 */
export class Progress {
  private bytes = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastLog = Date.now();

  constructor(
    private readonly log: Logger,
    private readonly label: string,
    private total: number | undefined,
    private readonly logEveryMs = 10_000,
  ) {
    live.add(this);
  }

  snapshot(now = Date.now()): Record<string, unknown> {
    return this.fields(now);
  }

  add(n: number): void {
    this.bytes += n;
    const now = Date.now();
    if (now - this.lastDraw >= 200) {
      this.lastDraw = now;
      let board = boards.get(this.log);
      if (!board) boards.set(this.log, (board = new Map()));
      board.set(this, this.line(now));
      draw(this.log, board);
    }
    if (!this.log.human && now - this.lastLog >= this.logEveryMs) {
      this.lastLog = now;
      this.log.info("progress", this.fields(now));
    }
  }

  /** The expected total, when it is known only after the work began (counted beside it). */
  setTotal(n: number): void {
    this.total = n;
  }

  get done(): number {
    return this.bytes;
  }

  finish(): void {
    live.delete(this);
    const board = boards.get(this.log);
    if (!board) return this.log.clearStatus();
    board.delete(this);
    draw(this.log, board);
  }

  private rate(now: number): number {
    return this.bytes / Math.max((now - this.started) / 1000, 0.001);
  }

  private fields(now: number): Record<string, unknown> {
    const rate = this.rate(now);
    return {
      step: this.label,
      bytes: this.bytes,
      total: this.total,
      mb_per_s: Number((rate / 1e6).toFixed(1)),
      eta_s: this.total ? Math.max(0, Math.round((this.total - this.bytes) / rate)) : undefined,
    };
  }

  private line(now: number): string {
    const rate = this.rate(now);
    const of = this.total ? ` / ${formatBytes(this.total)}` : "";
    const eta = this.total ? `  ETA ${formatEta((this.total - this.bytes) / rate)}` : "";
    return `${this.label}  ${formatBytes(this.bytes)}${of}  ${formatBytes(rate)}/s${eta}`;
  }
}
