/**
 * Names read from a repository (archive entries, source names) are hostile input: a name with ESC,
 * CSI or other control characters could rewrite the operator's terminal. Everything strongbox
 * prints for people goes through this, which shows such characters as visible escapes.
 */
// C0 controls, DEL, C1 controls, the Unicode line/paragraph separators, and the bidi controls: the
// embeddings, overrides and isolates, and the marks (LRM, RLM, ALM), which reorder what follows too.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** A message for one line of a terminal or a log: escapeControl, and a newline shown as `\\n` (a forged name cannot start a line of its own). */
export function oneLine(s: string): string {
  return escapeControl(s).replace(/\n/g, "\\n");
}

/**
 * One archive or repository name, quoted for a message: control characters, newlines and tabs
 * escaped, and so are `\` and `"`: a name holding the text `\x1b` or a quote cannot pass for an
 * escape or for the quote's end.
 */
export function quoteName(s: string): string {
  return `"${oneCell(s.replace(/[\\"]/g, (c) => `\\${c}`))}"`;
}

/** oneLine, and a tab shown as `\\t`: a forged name can start neither a line nor a column of its own. */
export function oneCell(s: string): string {
  return oneLine(s).replace(/\t/g, "\\t");
}

/** quoteName for a name that may be very long (a path of 4,096 bytes): its start and end, at most ~120 characters. */
export function quoteShort(s: string, max = 120): string {
  if (s.length <= max) return quoteName(s);
  const half = Math.floor((max - 1) / 2);
  return quoteName(`${s.slice(0, half)}…${s.slice(-half)}`);
}

/**
 * What makes a browse row's path ambiguous as it is: a backslash or a double quote (text that reads as
 * an escape or a quoted name), a control character, " -> " (a symlink's arrow), space at either end.
 */
const AMBIGUOUS = new RegExp(`[\\\\"\\n\\t]| -> |^\\s|\\s$|${CONTROL.source}`);

/**
 * A path for a row of `ls`, `find` or `diff`: as it is when that is unambiguous, else in double quotes
 * with `\\`, `"`, newlines, tabs and control characters escaped. A forged name cannot then pass for an
 * escape (`\\x1b` typed as text), a symlink (`x -> /etc/passwd`) or another column; --json is exact.
 */
export function rowPath(s: string): string {
  return AMBIGUOUS.test(s) ? quoteName(s) : s;
}
