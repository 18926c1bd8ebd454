/**
 * The order in which strongbox lists a tree: depth first, each directory's names sorted by UTF-16
 * code units (what `Array.prototype.sort` does), a directory before its contents. As a comparison
 * of whole paths this is a string comparison in which "/" sorts below every other character, so
 * "a/x" comes before "a b" and "a.txt". The walk, the archive and the manifest all follow it, which
 * lets restore and verify match an archive against its manifest in one pass with no index in memory.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47) return -1;
    if (y === 47) return 1;
    return x - y;
  }
  return a.length - b.length;
}
