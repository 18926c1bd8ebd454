/** Parses a libpq URL, accepting the host-less socket form `postgresql://user@/db?host=/run/postgresql`. */
export function parsePgUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    return new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)\//, "$1localhost/"));
  }
}
