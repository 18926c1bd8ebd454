/**
 * Names read from a repository (archive entries, source names) are hostile input: a name with ESC,
 * CSI or other control characters could rewrite the operator's terminal. Everything strongbox
 * prints for people goes through this, which shows such characters as visible escapes.
 */
// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi overrides.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** One archive or repository name, quoted for a message: control characters and newlines escaped. */
export function quoteName(s: string): string {
  return `"${escapeControl(s).replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
}
