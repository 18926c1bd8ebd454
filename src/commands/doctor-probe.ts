import type pg from "pg";
import { describeError } from "../errors.js";
import { connect, serverInfo } from "../sources/postgres/connection.js";
import { findPgTool, type PgTool } from "../sources/postgres/tools.js";

/** What doctor says of one area: ok, a warning, or a failure, with its one-line detail. */
export interface Finding {
  area: string;
  status: "ok" | "warn" | "fail";
  detail: string;
}

export type ServerInfo = Awaited<ReturnType<typeof serverInfo>>;

/**
 * doctor's probe of a PostgreSQL source: connect, read the server's version, find the client tool that
 * matches it (`pg_dump`, `pg_basebackup`), run `check`, close. Any error on the way is the source's one
 * "fail" finding, worded by describeError.
 */
export async function probeServer(
  s: { name: string; url: string; pg_bin_dir?: string },
  toolName: string,
  check: (c: pg.Client, server: ServerInfo, tool: PgTool) => Promise<Finding[]>,
): Promise<Finding[]> {
  try {
    const c = await connect(s.url, `source ${s.name}`);
    try {
      const server = await serverInfo(c);
      return await check(c, server, await findPgTool(toolName, server.major, s.pg_bin_dir));
    } finally {
      await c.end().catch(() => {});
    }
  } catch (err) {
    return [{ area: `source ${s.name}`, status: "fail", detail: describeError(err) }];
  }
}
