// Feasibility of the telemetry packages (issue 25 item 1) under this runtime, with nothing fetched at run time: the
// OTLP/HTTP trace exporter and the Azure Monitor exporter, both behind a BatchSpanProcessor and loaded by dynamic
// import (as the worker loads them only when telemetry is on), deliver one span to local receivers: an OTLP/HTTP
// endpoint and a fake Application Insights ingestion endpoint (`/v2.1/track`; the exporter always upgrades the
// connection string's IngestionEndpoint to https, so the fake speaks TLS; tests/helpers/fake-app-insights.ts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  type ReceivedRequest,
  startTelemetryDestinations,
  type TelemetryDestinations,
} from "../helpers/fake-app-insights.ts";

describe("telemetry exporters under this runtime", () => {
  const received: ReceivedRequest[] = [];
  let destinations: TelemetryDestinations;

  before(async () => {
    // Statsbeat (the exporter's own usage reports to Microsoft's endpoints) off, as src/telemetry sets it.
    process.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED = "true";
    process.env.APPLICATIONINSIGHTS_SDKSTATS_DISABLED = "true";
    destinations = await startTelemetryDestinations(received);
  });

  after(() => destinations.close());

  test("one span reaches the OTLP/HTTP receiver and the Application Insights fake", async () => {
    const { otlpPort, appInsightsPort: tlsPort } = destinations;
    const cert = destinations.certificate.cert;
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
