import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { Config } from "../../src/config/schema.ts";
import type { ExecutorRunContext } from "../../src/executors/types.ts";

configureLogging({ level: "error" });
const { config: baseConfig } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const registry = defaultRegistry();

const item = (n: number): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}` },
  data: { n },
  summary_data: {},
  executor_logs: [],
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const hits = new Map<string, number>();
let server: Server;
let base = "";

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0];
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const handler = routes.get(path);
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function json(res: ServerResponse, status: number, value: unknown) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
}

function withHosts(hosts: string[], privateHosts = ["127.0.0.1"]): Config {
  return { ...baseConfig, OUTBOUND_ALLOWED_HOSTS: hosts, OUTBOUND_ALLOWED_PRIVATE_HOSTS: privateHosts };
}

function make(settings: Record<string, unknown>, config: Config = withHosts(["127.0.0.1"])) {
  return createExecutor({ id: "h", type: "http", settings }, registry, { config, logger });
}

const ctx = (signal = new AbortController().signal): ExecutorRunContext => ({
  executorId: "h",
  pipelineName: "p",
  signal,
  logger,
});

describe("http executor", () => {
  test("the host must be allowed by OUTBOUND_ALLOWED_HOSTS, checked when the pipeline is compiled", () => {
    assert.doesNotThrow(() => make({ url: `${base}/x` }, withHosts(["*"])));
    assert.doesNotThrow(() => make({ url: "https://api.example.com/x" }, withHosts(["*.example.com"])));
    const cases: Array<[string, string[], RegExp]> = [
      [`${base}/x`, ["example.com"], /host '127.0.0.1' is not in OUTBOUND_ALLOWED_HOSTS \(example.com\)/],
      [`${base}/x`, [], /calls to '127.0.0.1' are refused: OUTBOUND_ALLOWED_HOSTS is empty/],
      ["https://example.com.evil.net/", ["example.com", "*.example.com"], /not in OUTBOUND_ALLOWED_HOSTS/],
      ["http://169.254.169.254/latest/meta-data", ["*"], /169\.254\.169\.254 are refused: cloud metadata/],
      ["ftp://127.0.0.1/x", ["*"], /url must be an http\(s\) URL/],
    ];
    for (const [url, hosts, message] of cases) {
      assert.throws(
        () => make({ url }, withHosts(hosts)),
        (err: unknown) => err instanceof PipelineError && message.test(err.message),
        url,
      );
    }
  });

  test("posts each item as JSON with headers from ${VAR}; the JSON response is merged into data[output_field]", async () => {
    routes.set("/echo", (req, body, res) => {
      const parsed = JSON.parse(body);
      json(res, 200, {
        seen: parsed.id.canonical_id,
        auth: req.headers.authorization,
        type: req.headers["content-type"],
      });
    });
    const yaml = `pipeline:
  name: p
  executors:
    - id: h
      type: http
      settings:
        url: "${base}/echo"
        headers: {Authorization: "Bearer \${SERVICE_TOKEN}"}
        output_field: enrichment
`;
    const def = parsePipelineYaml(yaml, { env: { SERVICE_TOKEN: "s3cret-token-value" } });
    // A secret-looking variable is readable only when the operator lists it.
    const config = { ...withHosts(["127.0.0.1"]), PIPELINE_ENV_ALLOWED_VARIABLES: ["*", "SERVICE_TOKEN"] };
    const p = compilePipeline(def, { registry, deps: { config, logger } });
    const r = await runPipeline(p, [item(1), item(2)], { signal: new AbortController().signal, logger });
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(r.content.map((c) => c.data?.enrichment), [
      { seen: "c1", auth: "Bearer s3cret-token-value", type: "application/json" },
      { seen: "c2", auth: "Bearer s3cret-token-value", type: "application/json" },
    ]);
    assert.equal(r.content[0].data?.n, 1);
  });

  test("retries 5xx and 429 with backoff, then succeeds", async () => {
    let calls = 0;
    routes.set("/flaky", (_req, _body, res) => {
      calls++;
      if (calls === 1) json(res, 503, { error: "busy" });
      else if (calls === 2) json(res, 429, { error: "slow down" });
      else json(res, 200, { ok: true });
    });
    const [out] = await make({ url: `${base}/flaky`, retry_backoff_ms: 1 }).process([item(1)], ctx());
    assert.deepEqual(out.data?.http_response, { ok: true });
    assert.equal(calls, 3);
  });

  test("gives up after max_retries, naming the status and the attempts", async () => {
    hits.delete("/down");
    routes.set("/down", (_req, _body, res) => json(res, 500, { error: "down" }));
    await assert.rejects(
      make({ url: `${base}/down`, retry_backoff_ms: 1, max_retries: 2 }).process([item(1)], ctx()),
      /HTTP 500: \{"error":"down"\} \(after 3 attempts\)/,
    );
    assert.equal(hits.get("/down"), 3);
  });

  test("4xx is not retried", async () => {
    hits.delete("/bad");
    routes.set("/bad", (_req, _body, res) => json(res, 400, { error: "bad input" }));
    await assert.rejects(
      make({ url: `${base}/bad`, retry_backoff_ms: 1 }).process([item(1)], ctx()),
      /HTTP 400: \{"error":"bad input"\}$/,
    );
    assert.equal(hits.get("/bad"), 1);
  });

  test("a request without a response times out", async () => {
    routes.set("/hang", () => undefined);
    await assert.rejects(
      make({ url: `${base}/hang`, request_timeout_secs: 1, max_retries: 0 }).process([item(1)], ctx()),
      /no response within 1 s/,
    );
  });

  test("redirects are not followed", async () => {
    routes.set("/moved", (_req, _body, res) => res.writeHead(302, { location: "http://example.com/" }).end());
    await assert.rejects(make({ url: `${base}/moved` }).process([item(1)], ctx()), /HTTP 302 redirect not followed/);
  });

  test("a loopback URL is refused unless OUTBOUND_ALLOWED_PRIVATE_HOSTS allows it", () => {
    assert.throws(
      () => make({ url: `${base}/x` }, withHosts(["*"], [])),
      /executor 'h' \(http\): calls to address 127\.0\.0\.1 are refused: loopback addresses need OUTBOUND_ALLOWED_PRIVATE_HOSTS/,
    );
    assert.throws(() => make({ url: "http://localhost:1/x" }, withHosts(["*"], ["127.0.0.1"])), /loopback/);
    assert.doesNotThrow(() => make({ url: "http://localhost:1/x" }, withHosts(["*"], ["localhost"])));
  });

  test("a response larger than MAX_HTTP_RESPONSE_BYTES fails the item at once, without retries", async () => {
    routes.set("/huge", (_req, _body, res) => {
      res.writeHead(200, { "content-type": "application/json" }); // chunked: no Content-Length to refuse up front
      const chunk = "x".repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        while (sent < 64 && res.write(chunk)) sent++;
        if (sent < 64) res.once("drain", more);
        else res.end();
      };
      more();
    });
    hits.delete("/huge");
    const config = { ...withHosts(["127.0.0.1"]), MAX_HTTP_RESPONSE_BYTES: 100_000 };
    await assert.rejects(
      make({ url: `${base}/huge` }, config).process([item(1)], ctx()),
      /the response is larger than 100000 bytes \(the limit set by MAX_HTTP_RESPONSE_BYTES\)/,
    );
    assert.equal(hits.get("/huge"), 1);
  });

  test("a response that is not JSON is an error; an empty one changes nothing", async () => {
    routes.set("/text", (_req, _body, res) => res.writeHead(200, { "content-type": "text/plain" }).end("hello"));
    await assert.rejects(make({ url: `${base}/text` }).process([item(1)], ctx()), /the response is not JSON/);
    routes.set("/empty", (_req, _body, res) => res.writeHead(204).end());
    const [out] = await make({ url: `${base}/empty` }).process([item(1)], ctx());
    assert.deepEqual(out.data, { n: 1 });
  });

  test("send_mode batch posts the list and merges a list response by position", async () => {
    routes.set(
      "/batch",
      (_req, body, res) => json(res, 200, (JSON.parse(body) as Content[]).map((c) => ({ id: c.id.canonical_id }))),
    );
    const out = await make({ url: `${base}/batch`, send_mode: "batch" }).process([item(1), item(2)], ctx());
    assert.deepEqual(out.map((c) => c.data?.http_response), [{ id: "c1" }, { id: "c2" }]);
    routes.set("/short", (_req, _body, res) => json(res, 200, [{}]));
    await assert.rejects(
      make({ url: `${base}/short`, send_mode: "batch" }).process([item(1), item(2)], ctx()),
      /one entry per item \(2\)/,
    );
  });

  test("an abort stops the retries", async () => {
    routes.set("/always-busy", (_req, _body, res) => json(res, 503, {}));
    const ac = new AbortController();
    const pending = make({ url: `${base}/always-busy`, retry_backoff_ms: 60_000, max_retries: 5 }).process(
      [item(1)],
      ctx(ac.signal),
    );
    setTimeout(() => ac.abort(new Error("task cancelled")), 50);
    await assert.rejects(pending, /task cancelled/);
  });
});
