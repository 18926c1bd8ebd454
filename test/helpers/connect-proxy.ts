// A real forward proxy for tests: CONNECT tunnels (https) and absolute-URI requests (http), counting
// every request by target host:port, and recording any Proxy-Authorization it was sent.
import { createServer, request, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";

export interface CountingProxy {
  url: string;
  /** target host:port → requests (absolute-URI) or tunnels (CONNECT) */
  counts: Map<string, number>;
  auth: string[];
  total(): number;
  close(): Promise<void>;
}

export async function startProxy(): Promise<CountingProxy> {
  const counts = new Map<string, number>();
  const auth: string[] = [];
  const count = (target: string, header?: string) => {
    counts.set(target, (counts.get(target) ?? 0) + 1);
    if (header) auth.push(header);
  };
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url!);
    count(u.host, req.headers["proxy-authorization"]);
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    const up = request(
      { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: req.method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  server.on("connect", (req, socket, head) => {
    count(req.url!, req.headers["proxy-authorization"]);
    const [host, port] = req.url!.split(":");
    const up = connect(Number(port), host, () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on("error", () => socket.destroy());
    socket.on("error", () => up.destroy());
  });
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    auth,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
