import { redact } from "./secrets.js";
import { escapeControl, oneLine } from "./terminal-safe.js";

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LoggerOptions {
  level?: Level;
  /** Human lines (a terminal) or JSON lines (a log collector). */
  human?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** Logs go to stderr: human lines on a terminal, one JSON object per line otherwise. */
export class Logger {
  readonly level: Level;
  readonly human: boolean;
  readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private statusShown = false;

  constructor(o: LoggerOptions = {}) {
    this.stream = o.stream ?? process.stderr;
    this.level = o.level ?? "info";
    this.human = o.human ?? Boolean(this.stream.isTTY);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write("error", msg, fields);
  }

  enabled(level: Level): boolean {
    return ORDER[level] >= ORDER[this.level];
  }

  /** A transient status line (progress) on a terminal; ignored otherwise. */
  status(line: string): void {
    if (!this.human || !this.stream.isTTY || !this.enabled("info")) return;
    const width = (this.stream.columns ?? 100) - 1;
    this.stream.write(`\r\x1b[K${escapeControl(redact(line)).slice(0, width)}`);
    this.statusShown = true;
  }

  clearStatus(): void {
    if (this.statusShown) this.stream.write("\r\x1b[K");
    this.statusShown = false;
  }

  private write(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    this.clearStatus();
    if (this.human) {
      const extra = fields
        ? Object.entries(fields)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
            .join(" ")
        : "";
      const prefix = level === "info" ? "" : `${level}: `;
      this.stream.write(oneLine(redact(`${prefix}${msg}${extra ? `  ${extra}` : ""}`)) + "\n");
    } else {
      this.stream.write(redact(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })) + "\n");
    }
  }
}

export const silentLogger = new Logger({
  level: "error",
  human: false,
  stream: { write: () => true } as unknown as NodeJS.WritableStream,
});
