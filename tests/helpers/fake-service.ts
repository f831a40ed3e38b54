// The common part of the local fakes of Azure AI services (fake-document-intelligence.ts,
// fake-content-understanding.ts, fake-ai-search.ts): an HTTP server on 127.0.0.1 that keeps every request it
// received and plays scripted faults before the normal answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface ReceivedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: Buffer;
  /** Which route answered ("analyze", "poll", "index", …; "fault" when a fault was played instead). */
  route: string;
}

/** A fault played instead of the normal answer of the next request to `route`. */
export type Fault =
  | { kind: "status"; status: number; retryAfter?: string; body?: unknown }
  | { kind: "truncated" }
  | { kind: "not-json" }
  | { kind: "slow"; delayMs: number };

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Handler = (req: ReceivedRequest) => FakeResponse | Promise<FakeResponse>;

export interface FakeService {
  endpoint: string;
  requests: ReceivedRequest[];
  /** The most requests the fake was answering at the same time (reset it to 0 to measure again). */
  maxInFlight: number;
  /** Queue a fault for the next request(s) answered by `route`. */
  fault(route: string, ...faults: Fault[]): void;
  close(): Promise<void>;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): FakeResponse {
  return { status, headers: { "content-type": "application/json; charset=utf-8", ...headers }, body };
}

function send(res: ServerResponse, answer: FakeResponse): void {
  const body = answer.body === undefined
    ? ""
    : Buffer.isBuffer(answer.body) || typeof answer.body === "string"
    ? answer.body
    : JSON.stringify(answer.body);
  res.writeHead(answer.status, answer.headers ?? {}).end(body);
}

function playFault(fault: Fault, res: ServerResponse, normal: () => Promise<void>): Promise<void> | void {
  switch (fault.kind) {
    case "status": {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      const body = fault.body ?? { error: { code: String(fault.status), message: `fake fault ${fault.status}` } };
      send(res, { status: fault.status, headers, body });
      return;
    }
    case "truncated":
      res.writeHead(200, { "content-type": "application/json", "content-length": "5000" });
      res.write('{"status": "succ');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    case "not-json":
      send(res, { status: 200, headers: { "content-type": "application/json" }, body: "<html>gateway</html>" });
      return;
    case "slow":
      return new Promise((resolve) => setTimeout(() => normal().then(resolve, resolve), fault.delayMs));
  }
}

/**
 * Starts a fake on 127.0.0.1. `route` names the route of a request (or undefined: 404); `handle` answers it.
 */
export async function startFakeService(
  route: (method: string, path: string) => string | undefined,
  handle: (route: string, req: ReceivedRequest) => FakeResponse | Promise<FakeResponse>,
): Promise<FakeService> {
  const requests: ReceivedRequest[] = [];
  const faults = new Map<string, Fault[]>();
  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
    res.on("close", () => inFlight--);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const name = route(req.method ?? "GET", url.pathname);
      const received: ReceivedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
        route: name ?? "none",
      };
      requests.push(received);
      if (!name) {
        send(res, json(404, { error: { code: "NotFound", message: `no route ${req.method} ${url.pathname}` } }));
        return;
      }
      const normal = async () => {
        try {
          send(res, await handle(name, received));
        } catch (err) {
          send(res, json(500, { error: { code: "FakeBug", message: String(err) } }));
        }
      };
      const fault = faults.get(name)?.shift();
      if (fault) {
        if (fault.kind !== "slow") received.route = "fault";
        void playFault(fault, res, normal);
        return;
      }
      void normal();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const addr = server.address();
  const endpoint = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  const fake: FakeService = {
    endpoint,
    requests,
    maxInFlight: 0,
    fault(name, ...list) {
      faults.set(name, [...(faults.get(name) ?? []), ...list]);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
