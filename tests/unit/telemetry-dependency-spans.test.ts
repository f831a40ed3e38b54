// src/telemetry/dependency-span.ts through the Azure SDKs' transport (src/net/sdk-http-client.ts), issue 25: each
// request attempt inside a span is a client span under it, with method, host, status and the URL without its query
// (a SAS signature there is never exported), failed on a 4xx/5xx answer or an error; outside a span, none.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createPipelineRequest } from "@azure/core-rest-pipeline";
import { activeSpan, inSpan, startTelemetry } from "../../src/telemetry/index.ts";
import { telemetryPlan } from "../../src/telemetry/plan.ts";
import { dependencyCall, MAX_DEPENDENCY_SPANS, withoutUrlQueries } from "../../src/telemetry/dependency-span.ts";
import { QueueClient } from "@azure/storage-queue";
import { sdkHttpClient, storageHttpClient } from "../../src/net/sdk-http-client.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { attributesOf, closedPort, OtlpReceiver } from "../helpers/otlp-receiver.ts";

configureLogging({ level: "error", write: () => {} });
const who = { role: "processing", workerId: "w-deps", version: "0.0.0-test", logger: new Logger({}) };
const SIG = "c2VjcmV0LXNpZ25hdHVyZS1kby1ub3QtZXhwb3J0";
const SPAN_KIND_CLIENT = 3;

describe("telemetry: dependency spans for outbound calls", () => {
  let otlp: OtlpReceiver;
  let server: Server;
  let base: string;
  let served = 0;
  before(async () => {
    otlp = await OtlpReceiver.start();
    server = createServer((req, res) => {
      served++;
      res.writeHead(req.url?.startsWith("/missing") ? 404 : 200, { "content-type": "text/plain" }).end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await otlp.close();
    server.closeAllConnections?.();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** Telemetry exporting to the receiver (cleared first) with `ratio` of traces sampled. */
  const telemetryToReceiver = (ratio: number) => {
    otlp.clear();
    return startTelemetry(
      telemetryPlan({
        APPLICATIONINSIGHTS_CONNECTION_STRING: "",
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_TRACES_SAMPLER_ARG: ratio,
      }),
      who,
    );
  };

  const send = (url: string, method: "GET" | "PUT" = "GET") =>
    sdkHttpClient().sendRequest(createPipelineRequest({ url, method, allowInsecureConnection: true }));

  test("outside a span (telemetry off) the request is sent and no span is made", async () => {
    otlp.clear();
    const before = served;
    const res = await send(`${base}/db/doc?sig=${SIG}`);
    assert.equal(res.status, 200);
    assert.equal(served, before + 1);
    assert.equal(otlp.bodies.traces.length, 0);
  });

  test("each attempt is a client span under the active span; the query never leaves the process", async () => {
    const t = await telemetryToReceiver(1);
    const refused = `http://127.0.0.1:${await closedPort()}/gone?sv=2024&sig=${SIG}`;
    const statuses = await t.span("contentflow.task", {}, async () => {
      const ok = await send(`${base}/dbs/db/docs/d1?sig=${SIG}#frag`, "PUT");
      const missing = await send(`${base}/missing?sig=${SIG}`);
      const failed = await send(refused).then(() => "sent", (err: Error) => err.name);
      return [ok.status, missing.status, failed];
    });
    assert.deepEqual(statuses, [200, 404, "RestError"], "the answers and errors are the same as without telemetry");
    await t.shutdown(10_000);

    const spans = otlp.spans();
    const task = spans.find((s) => s.name === "contentflow.task");
    assert.ok(task, JSON.stringify(spans));
    const deps = spans.filter((s) => s.kind === SPAN_KIND_CLIENT);
    assert.equal(deps.length, 3, JSON.stringify(spans));
    for (const d of deps) {
      assert.equal(d.parentSpanId, task.spanId, "a dependency span is a child of the span its call ran in");
      assert.equal(d.traceId, task.traceId);
    }
    const [put, get404, refusedSpan] = ["PUT", "GET /missing", "GET /gone"].map((what) =>
      deps.find((d) => {
        const a = attributesOf(d.attributes);
        const [method, path] = what.split(" ");
        return a["http.request.method"] === method && (!path || String(a["url.full"]).endsWith(path));
      })!
    );
    const a = attributesOf(put.attributes);
    assert.equal(put.name, "HTTP PUT");
    assert.equal(a["url.full"], `${base}/dbs/db/docs/d1`, "no query string, no fragment");
    assert.equal(a["server.address"], "127.0.0.1");
    assert.equal(a["az.namespace"], "Microsoft.DocumentDB");
    assert.equal(Number(a["http.response.status_code"]), 200);
    assert.notEqual(put.status?.code, 2);
    assert.equal(Number(attributesOf(get404.attributes)["http.response.status_code"]), 404);
    assert.equal(get404.status?.code, 2, "a 404 answer marks the dependency failed");
    assert.equal(refusedSpan.status?.code, 2, "a request that could not be sent marks it failed");
    assert.equal(attributesOf(refusedSpan.attributes)["error.type"], "RestError");
    const exported = otlp.bodies.traces.join("\n");
    assert.ok(!exported.includes(SIG), "the SAS signature is in no exported byte");
    assert.ok(!exported.includes("sig="), "nor any query string");
  });

  test("under a span the sampler left out, calls are sent and nothing is made for them", async () => {
    const t = await telemetryToReceiver(0);
    const before = served;
    const seen = await t.span("contentflow.task", {}, async () => {
      const answer = await send(`${base}/dbs/db/docs/d2?sig=${SIG}`);
      return { status: answer.status, inSpan: inSpan(), active: activeSpan() };
    });
    await t.shutdown(10_000);
    assert.equal(seen.status, 200);
    assert.equal(served, before + 1);
    assert.equal(seen.inSpan, false, "children of a span that is not recorded are not prepared");
    assert.equal(seen.active, undefined);
    assert.deepEqual(otlp.spans(), []);
  });

  test("SDK_HTTP_CLIENT=node: calls over the SDKs' own client are dependency spans too", async () => {
    const t = await telemetryToReceiver(1);
    const before = served;
    const queue = new QueueClient(`${base}/devstoreaccount1/tasks?sig=${SIG}`, undefined, {
      httpClient: storageHttpClient("node"),
      retryOptions: { maxTries: 1 },
    });
    const statuses = await t.span("contentflow.task", {}, async () => {
      const doc = await sdkHttpClient("node").sendRequest(
        createPipelineRequest({
          url: `${base}/dbs/db/docs/d3?sig=${SIG}`,
          method: "PUT",
          allowInsecureConnection: true,
        }),
      );
      const properties = await queue.getProperties().then((r) => r._response.status, (err: Error) => err.name);
      return [doc.status, properties];
    });
    await t.shutdown(10_000);
    assert.deepEqual(statuses, [200, 200]);
    assert.equal(served, before + 2, "each call went out once");
    const deps = otlp.spans().filter((s) => s.kind === SPAN_KIND_CLIENT).map((s) => attributesOf(s.attributes));
    assert.deepEqual(
      deps.map((a) => [a["az.namespace"], a["http.request.method"], a["url.full"]]).sort(),
      [
        ["Microsoft.DocumentDB", "PUT", `${base}/dbs/db/docs/d3`],
        ["Microsoft.Storage", "GET", `${base}/devstoreaccount1/tasks`],
      ],
    );
    assert.ok(!otlp.bodies.traces.join("\n").includes(SIG));
  });

  test("a span gets at most MAX_DEPENDENCY_SPANS client spans; the calls past that are counted on it", async () => {
    const t = await telemetryToReceiver(1);
    const extra = 7;
    const answers = await t.span("contentflow.crawl", {}, async () => {
      let sum = 0;
      for (let i = 0; i < MAX_DEPENDENCY_SPANS + extra; i++) {
        sum += await dependencyCall("Microsoft.Storage", "GET", `${base}/c/${i}`, () => Promise.resolve(1), () => 200);
      }
      return sum;
    });
    assert.equal(answers, MAX_DEPENDENCY_SPANS + extra, "every call was made");
    await t.shutdown(10_000);
    const spans = otlp.spans();
    assert.equal(spans.filter((s) => s.kind === SPAN_KIND_CLIENT).length, MAX_DEPENDENCY_SPANS);
    const crawl = spans.find((s) => s.name === "contentflow.crawl")!;
    assert.equal(Number(attributesOf(crawl.attributes)["contentflow.dependencies_untraced"]), extra);
  });

  test("an error's message loses its URLs' queries before it is recorded", async () => {
    assert.equal(
      withoutUrlQueries(`error sending request for url (https://a.blob.core.windows.net/c/b?sv=1&sig=${SIG}): refused`),
      "error sending request for url (https://a.blob.core.windows.net/c/b): refused",
    );
    await assert.rejects(
      dependencyCall("Microsoft.Storage", "GET", "http://x/", () => Promise.reject(new Error("boom")), () => 0),
      /boom/,
      "outside a span the error is the request's own",
    );
  });
});
