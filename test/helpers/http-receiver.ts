import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  method: string;
  path: string;
  contentType?: string;
  body: string;
}

/** A real local HTTP server that records every request (healthchecks, webhooks). */
export async function startReceiver(
  status = 200,
): Promise<{ url: string; calls: Received[]; close: () => Promise<void> }> {
  const calls: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      calls.push({ method: req.method!, path: req.url!, contentType: req.headers["content-type"], body });
      res.statusCode = status;
      res.end("OK");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise((r) => server.close(() => r())) };
}
