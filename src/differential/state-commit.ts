import { rmSync } from "node:fs";
import { StrongboxError } from "../errors.js";
import { loadState, saveState, statePath, type FullState, type StateOwner } from "./state.js";

type NewState = Omit<FullState, "format" | "repository" | "recipients">;

/**
 * Makes a committed full the base of the source's differentials. When its state cannot be written
 * (a full state directory, say), the backup stays committed, and the earlier state, which
 * saveState leaves whole, is removed: it names an older full than this one, which prune may now
 * delete (nothing kept depends on it), and an S3 writer cannot see that before it bases a
 * differential on it. The next backup is then a full. The error says exactly what the state
 * directory holds now; a partly written state is never left where loadState reads it.
 */
export function commitFullState(owner: StateOwner, state: NewState): string {
  try {
    return saveState(owner, state);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const file = statePath(owner, state.source);
    const why = `cannot write ${file} (${e.code ? String(e.message).split("\n")[0] : String(e)})`;
    throw new StrongboxError("SOURCE", `source ${state.source}: ${why}: ${afterFailure(owner, state, file)}`, {
      cause: err,
    });
  }
}

/** Removes an earlier state that names another full; says what the next backup will be. */
function afterFailure(owner: StateOwner, state: NewState, file: string): string {
  const now = loadState(owner, state.source, state.path);
  if (!now.state) return `no state of a full is kept (${now.why}), so the next backup is a full`;
  if (now.state.full_id === state.full_id)
    return `the state names this full ${state.full_id} all the same (only syncing its directory failed), so the next backup is a differential on it`;
  const earlier = now.state.full_id;
  try {
    rmSync(file);
  } catch (err) {
    return (
      `the state still names the earlier full ${earlier} and cannot be removed either (${(err as NodeJS.ErrnoException).code}): the next backup is a differential on ${earlier}, ` +
      `not on this full; remove ${file} to make it a full`
    );
  }
  return `the earlier state (of full ${earlier}) was removed, so that no differential is based on a full older than this one, and the next backup is a full`;
}
