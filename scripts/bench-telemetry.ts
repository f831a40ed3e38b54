// Telemetry cost benchmark (issue 25 item 3): the processing throughput measurement of bench-processing.ts (N
// pass-through tasks preloaded, the compiled binary with W processing workers, tasks/s from Cosmos timestamps and
// the workers' CPU per task from ready on) run three times in one run on the same emulators — telemetry off, on
// with every trace kept (OTEL_TRACES_SAMPLER_ARG=1), and on at the default ratio (the setting left unset) — the
// "on" runs exporting traces, log records and metrics to a local OTLP/HTTP receiver (tests/helpers/otlp-receiver.ts).
// Prints each run's figures and its ratios to "off"; BENCHMARKS.md's "Telemetry cost" section holds the results.
//
//   deno run -A scripts/bench-telemetry.ts [--tasks N] [--workers W] [--concurrency C] [--env K=V]
//     --tasks         tasks per run (default 1000)
//     --workers       processing worker processes (default 2)
//     --concurrency   PROCESSING_CONCURRENCY of each worker (default: the setting's default, 8)
//     --env K=V       an extra environment variable for the binary in every run (repeatable)
import process from "node:process";
import { join, resolve } from "node:path";
import { envFlags, intFlag, progress } from "./lib/bench-kit.ts";
import { openBench, processingThroughput, type ThroughputResult } from "./lib/bench-measure.ts";
import { OtlpReceiver } from "../tests/helpers/otlp-receiver.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log("usage: deno run -A scripts/bench-telemetry.ts [--tasks N] [--workers W] [--concurrency C] [--env K=V]");
  process.exit(0);
}
const tasks = intFlag(args, "--tasks", 1000);
const workers = intFlag(args, "--workers", 2);
const concurrency = intFlag(args, "--concurrency", 0);
const baseEnv: Record<string, string> = {
  ...(concurrency > 0 ? { PROCESSING_CONCURRENCY: String(concurrency) } : {}),
  ...envFlags(args),
};

interface Mode {
  label: string;
  env: (collector: string) => Record<string, string>;
}

const MODES: Mode[] = [
  { label: "telemetry off", env: () => ({}) },
  {
    label: "on, 100 % of traces",
    env: (url) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_TRACES_SAMPLER_ARG: "1" }),
  },
  { label: "on, default ratio", env: (url) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: url }) },
];

const bench = await openBench(join(ROOT, ".data", "bench-telemetry"));
const collector = await OtlpReceiver.start();
try {
  const results: Array<{ mode: Mode; result: ThroughputResult; spans: number }> = [];
  for (const mode of MODES) {
    progress(`${mode.label}: ${tasks} tasks, ${workers} worker(s)`);
    collector.clear();
    const { result, run } = await processingThroughput(bench, workers, tasks, {
      ...baseEnv,
      ...mode.env(collector.url),
    });
    await run.stop(); // drain flushes what the workers still hold
    results.push({ mode, result, spans: collector.spans().filter((s) => s.name === "contentflow.task").length });
  }
  const off = results[0].result;
  const f = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? "?" : n.toFixed(d));
  const conc = concurrency > 0 ? concurrency : 8;
  console.log(
    `\ntelemetry cost: ${tasks} pass-through tasks per run, ${workers} worker process(es) × concurrency ${conc}, ` +
      `binary ${bench.binary}, OTLP/HTTP receiver on 127.0.0.1`,
  );
  console.log("  mode                     tasks/s   ratio   worker CPU ms/task   ratio   task spans received");
  for (const { mode, result, spans } of results) {
    console.log(
      `  ${mode.label.padEnd(24)} ${f(result.tasksPerSecond).padStart(7)}   ${
        f(result.tasksPerSecond / off.tasksPerSecond, 2).padStart(5)
      }   ${f(result.workerCpuMsPerTask, 2).padStart(18)}   ${
        f((result.workerCpuMsPerTask ?? NaN) / (off.workerCpuMsPerTask ?? NaN), 2).padStart(5)
      }   ${String(spans).padStart(19)}${result.failed ? `  ${result.failed} FAILED` : ""}`,
    );
  }
  if (results.some((r) => r.result.failed)) process.exitCode = 1;
} finally {
  await collector.close();
  await bench.emu.stop();
}
