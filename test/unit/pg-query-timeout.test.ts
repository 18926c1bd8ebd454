// A PostgreSQL server that accepts the connection and then never answers a query (a hung server, a
// broken proxy) must not hang a backup, a restore's checks or doctor: every query has a timeout, and
// the error names the server (never its password).
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, serverInfo } from "../../src/sources/postgres/connection.js";

/** The startup exchange (AuthenticationOk, ReadyForQuery), then silence. */
function silentServer(): Server {
  const msg = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, "latin1");
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  return createServer((s: Socket) => {
    let started = false;
    s.on("error", () => {});
    s.on("data", (d) => {
      if (started) return; // a query: never answered
      const code = d.readInt32BE(4);
      if (code === 80877103) return void s.write("N"); // SSLRequest: no
      started = true;
      s.write(Buffer.concat([msg("R", Buffer.alloc(4)), msg("Z", Buffer.from("I"))]));
    });
  });
}

describe("a server that stops answering", () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = silentServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("a query times out with one line naming the server (its password masked)", async () => {
    const url = `postgres://alice:PGSECRET@127.0.0.1:${port}/app?sslmode=disable`;
    const client = await connect(url, "source db", { queryTimeoutMs: 200 });
    await expect(serverInfo(client)).rejects.toThrow(
      /^source db: postgres:\/\/alice:\*\*\*@127\.0\.0\.1:\d+\/app\?sslmode=disable did not answer a query in time/,
    );
    await client.end().catch(() => {});
  });
});
