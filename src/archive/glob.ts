/** Compiles an exclude pattern: `*`, `?`, `**`; a pattern without `/` matches a name at any depth. */
export function globToRegExp(pattern: string): RegExp {
  let p = pattern.replace(/^\.\//, "").replace(/\/+$/, "");
  const anchored = p.includes("/");
  if (p.startsWith("/")) p = p.slice(1);
  let re = "";
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "*" && p[i + 1] === "*") {
      if (p[i + 2] === "/") {
        re += "(?:.*/)?";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(anchored ? `^${re}$` : `(?:^|/)${re}$`);
}

export function makeExcluder(patterns: string[]): (relPath: string) => boolean {
  const res = patterns.map(globToRegExp);
  return (rel) => res.some((r) => r.test(rel));
}
