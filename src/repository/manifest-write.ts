import type { Manifest } from "./manifest.js";

/**
 * The manifest as JSON text, piece by piece: a source's entries come from its spool, so a tree of
 * millions of files never exists as one string. Each files source lists its entries last; JSON
 * readers do not care about key order.
 */
export function* manifestJson(m: Manifest): Generator<Buffer> {
  const { sources, ...head } = m;
  yield Buffer.from(`${JSON.stringify(head).slice(0, -1)},"sources":{`);
  let first = true;
  for (const [name, part] of Object.entries(sources)) {
    const lead = `${first ? "" : ","}${JSON.stringify(name)}:`;
    first = false;
    if (part.type !== "files") {
      yield Buffer.from(lead + JSON.stringify(part));
      continue;
    }
    const { entries, ...rest } = part;
    yield Buffer.from(`${lead}${JSON.stringify(rest).slice(0, -1)},"entries":[`);
    yield* entries.jsonElements();
    yield Buffer.from("]}");
  }
  yield Buffer.from("}}");
}
