// A local stand-in for Azure App Configuration (there is no emulator on npm): verifies the SDK's HMAC-SHA256
// signature and serves GET /kv with key/label filters and paging through @nextLink (lowercase `after`).
import { createServer, type Server } from "node:http";
import { createHash, createHmac } from "node:crypto";

export interface FakeKeyValue {
  key: string;
  value: string;
  label?: string | null;
}

export interface FakeAppConfig {
  connectionString: string;
  requests: string[];
  close(): Promise<void>;
}

function matches(filter: string, key: string): boolean {
  return filter.split(",").some((f) => (f.endsWith("*") ? key.startsWith(f.slice(0, -1)) : key === f));
}

export async function startFakeAppConfig(items: FakeKeyValue[], pageSize = 2): Promise<FakeAppConfig> {
  const id = "test-id";
  const secret = Buffer.from("fake-app-config-secret").toString("base64");
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${req.method} ${url.pathname}${url.search}`);
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
    const selected = items.filter((i) =>
      matches(keyFilter, i.key) && (labelFilter === null || labelFilter === "*" || (i.label ?? "\0") === labelFilter)
    );
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
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    connectionString: `Endpoint=http://127.0.0.1:${port};Id=${id};Secret=${secret}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
