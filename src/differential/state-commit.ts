import { StrongboxError } from "../errors.js";
import { loadState, saveState, statePath, type FullState, type StateOwner } from "./state.js";

type NewState = Omit<FullState, "format" | "repository" | "recipients">;

/**
 * Makes a committed full the base of the source's differentials. When its state cannot be written
 * (a full state directory, say), the backup stays committed and the error says what the next
 * backup will really be, from what the state directory holds now: saveState never leaves a partly
 * written state where loadState reads it, so that is the earlier state, whole, or none.
 */
export function commitFullState(owner: StateOwner, state: NewState, fullEvery: string): string {
  try {
    return saveState(owner, state);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const file = statePath(owner, state.source);
    const why = `cannot write ${file} (${e.code ? String(e.message).split("\n")[0] : String(e)})`;
    throw new StrongboxError("SOURCE", `source ${state.source}: ${why}: ${nextBase(owner, state, fullEvery)}`, { cause: err });
  }
}

/** What the state directory now makes of the source's next backup, said exactly. */
function nextBase(owner: StateOwner, state: NewState, fullEvery: string): string {
  const now = loadState(owner, state.source, state.path);
  if (!now.state) return `no state of a full is kept (${now.why}), so the next backup is a full`;
  if (now.state.full_id === state.full_id) return `the state names this full ${state.full_id} all the same (only syncing its directory failed), so the next backup is a differential on it`;
  return (
    `the state still names the earlier full ${now.state.full_id} (started ${now.state.full_started_at}), unchanged, so the next backup is a differential on that full, ` +
    `not on this one (${state.full_id}), until full_every (${fullEvery}) has passed since it or it is no longer in the repository`
  );
}
