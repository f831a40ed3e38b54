// A local stand-in for Azure App Configuration (there is no emulator on npm): verifies the SDK's HMAC-SHA256
// signature and serves GET /kv with key/label filters and paging through @nextLink (lowercase `after`).
// Filters follow the REST contract: no `label` parameter = any label, `\0` = no label, a trailing `*` matches a
// prefix, commas separate alternatives. `failWith` makes every request fail (an HTTP status, or "reset" to drop the
// connection), for outage tests; `port` listens on a chosen port (to come up where a client already waits).
import { createServer, type Server } from "node:http";
import { createHash, createHmac } from "node:crypto";

export interface FakeKeyValue {
  key: string;
  value: string;
  label?: string | null;
}

export interface FakeAppConfig {
  connectionString: string;
  port: number;
  requests: string[];
  /** While set, every request fails with this HTTP status, or by dropping the connection ("reset"). */
  failWith: number | "reset" | undefined;
  close(): Promise<void>;
}

export interface FakeAppConfigOptions {
  pageSize?: number;
  port?: number;
  failWith?: number | "reset";
}

function matches(filter: string, key: string): boolean {
  return filter.split(",").some((f) => (f.endsWith("*") ? key.startsWith(f.slice(0, -1)) : key === f));
}

/** The service's label filter: absent = any label, `\0` = no label, alternatives separated by commas. */
export function labelMatches(filter: string | null, label: string | null | undefined): boolean {
  if (filter === null) return true;
  return filter.split(",").some((f) => {
    if (f === "\0") return label === null || label === undefined;
    if (label === null || label === undefined) return false;
    return f.endsWith("*") ? label.startsWith(f.slice(0, -1)) : label === f;
  });
}

const FAKE_ID = "test-id";
const FAKE_SECRET = Buffer.from("fake-app-config-secret").toString("base64");

/** The connection string of a fake on `port` (also before it listens there). */
export function fakeAppConfigConnectionString(port: number): string {
  return `Endpoint=http://127.0.0.1:${port};Id=${FAKE_ID};Secret=${FAKE_SECRET}`;
}

export async function startFakeAppConfig(
  items: FakeKeyValue[],
  opts: number | FakeAppConfigOptions = {},
): Promise<FakeAppConfig> {
  const { pageSize = 2, port: wantedPort = 0, failWith } = typeof opts === "number" ? { pageSize: opts } : opts;
  const state = { failWith };
  const id = FAKE_ID;
  const secret = FAKE_SECRET;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (state.failWith === "reset") {
      req.socket.destroy();
      return;
    }
    if (state.failWith !== undefined) {
      res.writeHead(state.failWith, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ title: `failing on purpose with ${state.failWith}` }));
      return;
    }
    const date = String(req.headers["x-ms-date"] ?? "");
    const sha = String(req.headers["x-ms-content-sha256"] ?? "");
    const host = String(req.headers.host ?? "");
    const toSign = `${req.method}\n${url.pathname}${url.search}\n${date};${host};${sha}`;
    const expected = createHmac("sha256", Buffer.from(secret, "base64")).update(toSign).digest("base64");
    const auth = String(req.headers.authorization ?? "");
    const emptySha = createHash("sha256").update("").digest("base64");
    if (!auth.includes(`Credential=${id}&`) || !auth.endsWith(`Signature=${expected}`) || sha !== emptySha) {
      res.writeHead(401, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ title: "Unauthorized" }));
      return;
    }
    if (url.pathname !== "/kv") {
      res.writeHead(404).end();
      return;
    }
    const keyFilter = url.searchParams.get("key") ?? "*";
    const labelFilter = url.searchParams.get("label");
    const selected = items.filter((i) => matches(keyFilter, i.key) && labelMatches(labelFilter, i.label));
    const start = Number(url.searchParams.get("after") ?? "0");
    const page = selected.slice(start, start + pageSize);
    const body: Record<string, unknown> = {
      items: page.map((i) => ({
        key: i.key,
        label: i.label ?? null,
        value: i.value,
        content_type: null,
        last_modified: new Date().toISOString(),
        tags: {},
        locked: false,
        etag: "e",
      })),
    };
    if (start + pageSize < selected.length) {
      // `after` goes last: the SDK reads it with URLSearchParams over the whole link, where a first parameter
      // would be taken as "/kv?after".
      const next = new URLSearchParams(url.searchParams);
      next.delete("after");
      next.set("after", String(start + pageSize));
      body["@nextLink"] = `/kv?${next.toString()}`;
    }
    res.writeHead(200, { "content-type": "application/vnd.microsoft.appconfig.kvset+json" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(wantedPort, "127.0.0.1", () => r()));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    connectionString: fakeAppConfigConnectionString(port),
    port,
    requests,
    get failWith() {
      return state.failWith;
    },
    set failWith(value) {
      state.failWith = value;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections?.();
      }),
  };
}
