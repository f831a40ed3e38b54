// A local OpenTelemetry collector for tests and benchmarks: an OTLP/HTTP JSON receiver on 127.0.0.1 that keeps what
// it gets per signal (/v1/traces, /v1/metrics, /v1/logs) and reads spans, metric points and log records out of it.
// `closedPort()` gives a port nothing listens on (an ingestion endpoint that is down).
import { createServer, type Server } from "node:http";

export interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes: OtlpAttribute[];
  status?: { code?: number; message?: string };
  events?: Array<{ name: string; attributes?: OtlpAttribute[] }>;
}

export interface OtlpPoint {
  metric: string;
  attributes: Record<string, unknown>;
  value: number;
}

/** Attributes as a plain object (each value's one field: stringValue, intValue, …). */
export function attributesOf(attributes: OtlpAttribute[] | undefined): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));
}

export class OtlpReceiver {
  readonly bodies: { traces: string[]; metrics: string[]; logs: string[] } = { traces: [], metrics: [], logs: [] };
  /** Requests received, any path. */
  requests = 0;
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const receiver: OtlpReceiver = new OtlpReceiver(createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        receiver.requests++;
        const signal = req.url?.match(/^\/v1\/(traces|metrics|logs)$/)?.[1] as
          | "traces"
          | "metrics"
          | "logs"
          | undefined;
        if (signal) receiver.bodies[signal].push(body);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    }));
    await new Promise<void>((r) => receiver.server.listen(0, "127.0.0.1", () => r()));
    return receiver;
  }

  /** The base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  spans(): OtlpSpan[] {
    return this.bodies.traces.flatMap((b) =>
      // deno-lint-ignore no-explicit-any
      (JSON.parse(b).resourceSpans ?? []).flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans))
    );
  }

  /** Sum and gauge data points, each with its metric's name. */
  points(): OtlpPoint[] {
    const out: OtlpPoint[] = [];
    for (const b of this.bodies.metrics) {
      for (const rm of JSON.parse(b).resourceMetrics ?? []) {
        for (const sm of rm.scopeMetrics ?? []) {
          for (const m of sm.metrics ?? []) {
            for (const p of (m.sum ?? m.gauge)?.dataPoints ?? []) {
              out.push({
                metric: m.name,
                attributes: attributesOf(p.attributes),
                value: Number(p.asInt ?? p.asDouble ?? 0),
              });
            }
          }
        }
      }
    }
    return out;
  }

  /** Log records (body text, attributes, trace id). */
  logRecords(): Array<{ body: string; traceId?: string; attributes: Record<string, unknown> }> {
    return this.bodies.logs.flatMap((b) =>
      // deno-lint-ignore no-explicit-any
      (JSON.parse(b).resourceLogs ?? []).flatMap((r: any) => r.scopeLogs.flatMap((s: any) => s.logRecords))
        // deno-lint-ignore no-explicit-any
        .map((l: any) => ({
          body: l.body?.stringValue ?? "",
          traceId: l.traceId,
          attributes: attributesOf(l.attributes),
        }))
    );
  }

  clear(): void {
    this.bodies.traces.length = this.bodies.metrics.length = this.bodies.logs.length = 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A local port nothing listens on (bound, then closed): an endpoint that is down. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
