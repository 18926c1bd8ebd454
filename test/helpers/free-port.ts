import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that no socket uses now, for a daemon's `listen` setting. The kernel picks it
 * (bind to port 0), so it is never one that a listener already holds or that an outgoing connection of
 * another test (S3, PostgreSQL) has taken from the ephemeral range, as a random pick can be; and the
 * kernel does not hand the same port out again right after it was released.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
