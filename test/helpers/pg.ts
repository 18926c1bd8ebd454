import pg from "pg";
import type { PgFixture } from "./global-setup.js";

export function dbUrl(fx: PgFixture, db: string, user = "postgres", password = fx.password): string {
  return `postgres://${user}:${encodeURIComponent(password)}@${fx.host}:${fx.port}/${db}`;
}

export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

let n = 0;
/** A fresh, empty database on the fixture cluster. */
export async function createDb(fx: PgFixture, label: string): Promise<{ name: string; url: string }> {
  const name = `t_${label}_${process.pid}_${++n}`;
  await withClient(fx.url, (c) => c.query(`CREATE DATABASE ${name}`));
  return { name, url: dbUrl(fx, name) };
}
