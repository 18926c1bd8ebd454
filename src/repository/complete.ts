import { StrongboxError } from "../errors.js";
import { FORMAT } from "./layout.js";

export interface CompleteObject {
  key: string;
  size: number;
  sha256: string;
  /** The source this object holds, absent for the manifest. */
  source?: string;
  /** For a source's further objects (e.g. "globals"); absent for its main object. */
  part?: string;
}

/** The plaintext commit marker (SPEC §3): nothing secret, enough to check integrity without the key. */
export interface CompleteRecord {
  format: typeof FORMAT;
  id: string;
  started_at: string;
  finished_at: string;
  host: string;
  tool_version: string;
  compression: string;
  sources: { name: string; type: "files" | "postgres" }[];
  objects: CompleteObject[];
  warnings: number;
}

export function parseComplete(text: string, key: string): CompleteRecord {
  let v: CompleteRecord;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StrongboxError("VERIFY", `${key}: not valid JSON (corrupt commit marker)`);
  }
  if (!v || v.format !== FORMAT || !Array.isArray(v.objects) || !Array.isArray(v.sources)) {
    throw new StrongboxError("VERIFY", `${key}: not a ${FORMAT} commit marker`);
  }
  for (const o of v.objects) {
    if (typeof o.key !== "string" || typeof o.size !== "number" || !/^[0-9a-f]{64}$/.test(o.sha256)) {
      throw new StrongboxError("VERIFY", `${key}: malformed object entry`);
    }
  }
  return v;
}
