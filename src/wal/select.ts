/**
 * Which stored object stands for one WAL file name: the ONE rule `wal fetch` (what recovery replays)
 * and verify's WAL walk (wal/gap.ts) both apply, so that verify reaches exactly restore's verdict.
 *
 * With a trust policy (signing.trusted), candidates that are not trusted (unsigned, or a signature that
 * does not verify under a trusted key) are ignored and reported; without one every candidate counts, as
 * before signing existed. Of the candidates that count: none => not archived; all with one SHA-256 =>
 * that file (a retry after a key rotation stores the same file twice, under two signatures); two hashes
 * => two different files under one name, refused rather than guessed.
 */
import type { TrustPolicy } from "../crypto/signing.js";
import { quoteName } from "../terminal-safe.js";
import { MAX_WAL_KEY, type ParsedWalKey } from "./names.js";
import { judgeWal } from "./signature.js";

export interface WalCandidate {
  key: ParsedWalKey;
  size: number;
  storedAt?: Date;
}

export interface IgnoredWal {
  key: string;
  reason: string;
}

export type WalChoice =
  | { kind: "found"; chosen: WalCandidate; ignored: IgnoredWal[] }
  | { kind: "missing"; ignored: IgnoredWal[] }
  | { kind: "refused"; reason: string; ignored: IgnoredWal[] };

/** The candidates that count under `policy`, and the ones ignored with why. */
export function trustedCandidates(
  candidates: WalCandidate[],
  policy: TrustPolicy | undefined,
): { trusted: WalCandidate[]; ignored: IgnoredWal[] } {
  if (!policy) return { trusted: candidates, ignored: [] };
  const trusted: WalCandidate[] = [];
  const ignored: IgnoredWal[] = [];
  for (const c of candidates) {
    const v = judgeWal(policy, c.key, c.storedAt);
    if (v.trusted) trusted.push(c);
    else ignored.push({ key: c.key.key, reason: v.reason ?? "untrusted" });
  }
  return { trusted, ignored };
}

/** The distinct SHA-256s among candidates. */
export const distinctHashes = (cs: WalCandidate[]) => new Set(cs.map((c) => c.key.sha256)).size;

/** The object recovery takes for one WAL file name, or why there is none. */
export function chooseWal(candidates: WalCandidate[], policy: TrustPolicy | undefined): WalChoice {
  const { trusted, ignored } = trustedCandidates(candidates, policy);
  if (trusted.length === 0) return { kind: "missing", ignored };
  if (distinctHashes(trusted) > 1)
    return {
      kind: "refused",
      reason: `${distinctHashes(trusted)} different files are archived under this name, refusing to pick one: ${trusted.map((c) => c.key.key).join(", ")}`,
      ignored,
    };
  const chosen = [...trusted].sort((a, b) => (a.key.key < b.key.key ? -1 : 1))[0];
  return { kind: "found", chosen, ignored };
}

/** One line naming ignored objects (at most three, then a count), or undefined when none. */
export function describeIgnored(ignored: IgnoredWal[]): string | undefined {
  if (ignored.length === 0) return undefined;
  const shown = ignored.slice(0, 3).map((i) => `${quoteName(i.key.slice(0, MAX_WAL_KEY))} (${i.reason})`);
  const more = ignored.length > 3 ? ` and ${ignored.length - 3} more` : "";
  return `ignored ${ignored.length} untrusted WAL object${ignored.length > 1 ? "s" : ""}: ${shown.join(", ")}${more}`;
}
