// Feasibility of the telemetry packages (issue 25 item 1) under this runtime, with nothing fetched at run time: the
// OTLP/HTTP trace exporter and the Azure Monitor exporter, both behind a BatchSpanProcessor and loaded by dynamic
// import (as the worker loads them only when telemetry is on), deliver one span to local receivers: an OTLP/HTTP
// endpoint and a fake Application Insights ingestion endpoint (`/v2.1/track`; the exporter always upgrades the
// connection string's IngestionEndpoint to https, so the fake speaks TLS with a certificate made here).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

interface Received {
  url: string;
  body: string;
}

describe("telemetry exporters under this runtime", () => {
  const received: Received[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push({ url: req.url ?? "", body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        req.url?.startsWith("/v2.1/track") ? JSON.stringify({ itemsReceived: 1, itemsAccepted: 1, errors: [] }) : "{}",
      );
    });
  };
  const otlp = createServer(handler);
  let tls: ReturnType<typeof createTlsServer>;
  let cert = "";

  before(async () => {
    // Statsbeat (the exporter's own usage reports to Microsoft's endpoints) off, as src/telemetry sets it.
    process.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED = "true";
    process.env.APPLICATIONINSIGHTS_SDKSTATS_DISABLED = "true";
    const dir = mkdtempSync(join(tmpdir(), "cfw-otel-cert-"));
    const r = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ], { encoding: "utf8" });
    assert.equal(r.status, 0, `openssl could not make a test certificate: ${r.stderr}`);
    cert = readFileSync(join(dir, "cert.pem"), "utf8");
    tls = createTlsServer({ key: readFileSync(join(dir, "key.pem")), cert }, handler);
    await new Promise<void>((r) => otlp.listen(0, "127.0.0.1", () => r()));
    await new Promise<void>((r) => tls.listen(0, "127.0.0.1", () => r()));
  });

  after(() => {
    otlp.close();
    tls.close();
  });

  test("one span reaches the OTLP/HTTP receiver and the Application Insights fake", async () => {
    const otlpPort = (otlp.address() as { port: number }).port;
    const tlsPort = (tls.address() as { port: number }).port;
    const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    const { AzureMonitorTraceExporter } = await import("@azure/monitor-opentelemetry-exporter");
    const trustTestCa = {
      name: "trust-test-ca",
      sendRequest: (request: { tlsSettings?: { ca?: string } }, next: (r: unknown) => Promise<unknown>) => {
        request.tlsSettings = { ca: cert };
        return next(request);
      },
    };
    const provider = new BasicTracerProvider({
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${otlpPort}/v1/traces` })),
        new BatchSpanProcessor(
          new AzureMonitorTraceExporter({
            connectionString:
              `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:${tlsPort}/`,
            disableOfflineStorage: true,
            // deno-lint-ignore no-explicit-any
            additionalPolicies: [{ policy: trustTestCa as any, position: "perCall" }],
          }),
        ),
      ],
    });
    const span = provider.getTracer("cfw-test").startSpan("cfw-feasibility-span");
    span.end();
    await provider.forceFlush();
    await provider.shutdown();
    const traces = received.filter((r) => r.url === "/v1/traces");
    const track = received.filter((r) => r.url.startsWith("/v2.1/track"));
    assert.ok(traces.some((r) => r.body.includes("cfw-feasibility-span")), JSON.stringify(received));
    assert.ok(track.some((r) => r.body.includes("cfw-feasibility-span")), JSON.stringify(received));
    const traceId = span.spanContext().traceId;
    assert.ok(track.some((r) => r.body.includes(traceId)), "Application Insights got the span's trace id");
  });
});
