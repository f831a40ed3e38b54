// Telemetry through the compiled binary (issue 25): a supervisor with OTEL_EXPORTER_OTLP_ENDPOINT and
// APPLICATIONINSIGHTS_CONNECTION_STRING pointing at local fakes (an OTLP/HTTP receiver; an Application Insights
// ingestion endpoint, /v2.1/track, over TLS since the exporter always uses https: tests/helpers/fake-app-insights.ts)
// processes one task: its contentflow.task span reaches both, from inside the single binary, and the supervisor's
// own metrics (worker processes up per role) reach the collector; the Cosmos key is in no exported byte; the task's
// outcome is the same as without telemetry (the execution record is written). With the collector hung and the
// ingestion endpoint down, the task still completes and /metrics counts the dropped spans.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createServer } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureBinary } from "../helpers/binary.ts";
import {
  enqueueItem,
  executionsOfPipeline,
  storeOwnPipeline,
  until,
  type WatchedProcess,
  watchProcess,
} from "../helpers/e2e-kit.ts";
import {
  type ReceivedRequest,
  startTelemetryDestinations,
  type TelemetryDestinations,
} from "../helpers/fake-app-insights.ts";

describe("compiled binary: task spans to OTLP/HTTP and Application Insights", () => {
  let emu: Emulators;
  let binary: string;
  let config: Config;
  let db: Database;
  let env: Record<string, string>;
  let destinations: TelemetryDestinations | undefined;
  let supervisor: WatchedProcess | undefined;
  const received: ReceivedRequest[] = [];
  const cwd = mkdtempSync(join(tmpdir(), "cfw-otel-"));

  before(async () => {
    binary = ensureBinary();
    emu = await startEmulators();
    destinations = await startTelemetryDestinations(received);
    env = {
      PATH: process.env.PATH ?? "",
      ...emu.env,
      STORAGE_WORKER_QUEUE_NAME: "otel-tasks",
      NUM_PROCESSING_WORKERS: "1",
      NUM_SOURCE_WORKERS: "0",
      API_HOST: "127.0.0.1",
      API_PORT: "0",
      SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "8",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${destinations.otlpPort}`,
      APPLICATIONINSIGHTS_CONNECTION_STRING:
        `InstrumentationKey=00000000-0000-0000-0000-00000000e2e0;IngestionEndpoint=https://127.0.0.1:${destinations.appInsightsPort}/`,
      OTEL_TRACES_SAMPLER_ARG: "1",
      NODE_EXTRA_CA_CERTS: destinations.certificate.certPath,
    };
    ({ config, db } = await storeOwnPipeline(emu, env, {
      id: "pipe-otel",
      name: "otel",
      yaml: `pipeline:
  name: otel
  executors:
    - {id: pass, type: pass_through, settings: {}}
`,
    }));
  });

  after(async () => {
    await supervisor?.kill();
    destinations?.close();
    await emu?.stop();
  });

  test("one task: its span reaches the OTLP receiver and the Application Insights fake; no secret is exported", async () => {
    enqueueItem(binary, "pipe-otel", '{"id": {"canonical_id": "doc-1", "unique_id": "doc-1"}}', { cwd, env });
    supervisor = watchProcess(binary, [], { cwd, env });
    const { lines } = supervisor;

    await until("the execution record is completed", async () => {
      const records = await executionsOfPipeline(db, config, "pipe-otel");
      return records.find((r) => r.status === "completed");
    }, 60_000).catch((err) => {
      throw new Error(`${err.message}; supervisor output:\n${lines.join("\n")}`);
    });
    // Drain flushes the span queues.
    supervisor.terminate();
    await supervisor.exited;
    const otlpSpans = received.filter((r) => r.url === "/v1/traces" && r.body.includes("contentflow.task"));
    const tracked = received.filter((r) => r.url.startsWith("/v2.1/track") && r.body.includes("contentflow.task"));
    assert.ok(
      otlpSpans.length > 0,
      `no task span over OTLP: ${received.map((r) => r.url).join(", ")}\n${lines.join("\n")}`,
    );
    assert.ok(tracked.length > 0, `no task span in Application Insights: ${received.map((r) => r.url).join(", ")}`);
    // The supervisor's gauges, with the /metrics name and labels (flushed when it stopped).
    const metrics = received.filter((r) => r.url === "/v1/metrics").map((r) => r.body).join("\n");
    assert.match(metrics, /"name":"contentflow_worker_workers_up"/, "the supervisor's workers_up gauge arrived");
    assert.match(metrics, /"contentflow\.role","value":\{"stringValue":"supervisor"\}/);
    assert.ok(lines.some((l) => l.includes('"msg":"telemetry on"')), "the start-up line says where telemetry goes");
    // The worker's log lines during the task are log records in the task's trace.
    const taskTraceIds = otlpSpans.flatMap((r) =>
      // deno-lint-ignore no-explicit-any
      JSON.parse(r.body).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans))
        // deno-lint-ignore no-explicit-any
        .filter((sp: any) => sp.name === "contentflow.task").map((sp: any) => sp.traceId as string)
    );
    const logs = received.filter((r) => r.url === "/v1/logs").map((r) => r.body).join("\n");
    assert.ok(taskTraceIds.some((id) => logs.includes(`"traceId":"${id}"`)), `no log record in the task's trace`);
    const exported = received.map((r) => r.body).join("\n");
    assert.ok(!exported.includes(emu.env.COSMOS_DB_KEY), "the Cosmos key is in no exported byte");
    assert.ok(!lines.join("\n").includes("IngestionEndpoint=https"), "the connection string is never logged");
  });

  test("a collector that never answers and an ingestion endpoint that is down change no task outcome", async () => {
    const hung = createServer(() => {/* accepts and never answers */});
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    const down = createServer();
    await new Promise<void>((r) => down.listen(0, "127.0.0.1", () => r()));
    const downPort = (down.address() as { port: number }).port;
    await new Promise<void>((r) => down.close(() => r()));
    const badEnv = {
      ...env,
      STORAGE_WORKER_QUEUE_NAME: "otel-down-tasks",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(hung.address() as { port: number }).port}`,
      APPLICATIONINSIGHTS_CONNECTION_STRING:
        `InstrumentationKey=00000000-0000-0000-0000-00000000e2e1;IngestionEndpoint=https://127.0.0.1:${downPort}/`,
    };
    const completed = async () =>
      (await executionsOfPipeline(db, config, "pipe-otel")).filter((r) => r.status === "completed").length;
    const before = await completed();
    enqueueItem(binary, "pipe-otel", '{"id": {"canonical_id": "doc-down", "unique_id": "doc-down"}}', {
      cwd,
      env: badEnv,
    });
    const watched = watchProcess(binary, [], { cwd, env: badEnv });
    const { proc, lines: out } = watched;
    const apiPort = () => {
      for (const l of out) {
        const port = l.includes('"msg":"api listening"') ? JSON.parse(l).port : undefined;
        if (port) return port as number;
      }
    };
    try {
      await until(
        "the task's execution record is completed",
        async () => (await completed()) > before || undefined,
        60_000,
      )
        .catch((err) => {
          throw new Error(`${err.message}; supervisor output:\n${out.join("\n")}`);
        });
      // The spans that could not be exported are counted on /metrics (the processing worker's, by signal).
      const dropped = await until("/metrics counts dropped spans", async () => {
        const text = await (await fetch(`http://127.0.0.1:${apiPort()}/metrics`)).text();
        const m = /^contentflow_worker_telemetry_dropped_total\{role="processing",signal="traces"\} (\d+)$/m.exec(text);
        return m && Number(m[1]) > 0 ? text : undefined;
      }, 90_000).catch((err) => {
        throw new Error(`${err.message}; supervisor output:\n${out.join("\n")}`);
      });
      assert.match(dropped, /^contentflow_worker_telemetry_dropped_total\{role="supervisor",signal="traces"\} \d+$/m);
      // Drain ends even though the span queues cannot be flushed.
      watched.terminate();
      await watched.exited;
      assert.ok(out.some((l) => l.includes("processing worker stopped")), out.join("\n"));
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      hung.closeAllConnections?.();
      hung.close();
    }
  });
});
