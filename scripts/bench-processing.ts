// Processing benchmark: N pass-through tasks through the compiled binary with W processing workers, next to bare
// SDK loops on the same emulators in the same run: W loops receiving 32 at a time in this process (delete only; and
// the same Cosmos calls a task needs, then delete, with the SDKs' own HTTP client), and W loops making those calls
// over the fetch transport our worker uses, one in each of W processes of their own (scripts/bare-loop-process.ts),
// with 32 in flight each and again with as many in flight as a worker runs at once (PROCESSING_CONCURRENCY).
// Then enqueue-to-start latency while busy, idle polls per minute per worker, and enqueue-to-start once backed off.
//
// The in-process loops and the loop processes run on the runtime running this script, so run it with Bun
// (`bun scripts/bench-processing.ts`) to compare their CPU per task with the binary's under the same runtime; under
// Deno the SDKs cost less CPU.
//
//   deno run -A scripts/bench-processing.ts [--tasks N] [--workers W] [--concurrency C] [--idle-seconds S]
//     --tasks         tasks per throughput run (default 1000)
//     --workers       processing worker processes (default 2)
//     --concurrency   PROCESSING_CONCURRENCY of each worker (default: the setting's default, 8)
//     --idle-seconds  idle window counted for polls/min, after a 60 s back-off (default 120; 0 skips idle figures)
//     --env K=V       an extra environment variable for the binary (repeatable), e.g. to compare a setting
//     --binary PATH   measure this build instead of dist/contentflow-worker (e.g. a build of main, to compare)
import process from "node:process";
import { join, resolve } from "node:path";
import { envFlags, intFlag, progress } from "./lib/bench-kit.ts";
import {
  bareLoopProcesses,
  enqueueToStart,
  freshStore,
  idlePolls,
  openBench,
  processingThroughput,
  PYTHON,
  sdkCeiling,
  sdkWithRecordsCeiling,
} from "./lib/bench-measure.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: deno run -A scripts/bench-processing.ts [--tasks N] [--workers W] [--concurrency C] [--idle-seconds S] [--env K=V] [--binary PATH]",
  );
  process.exit(0);
}
const tasks = intFlag(args, "--tasks", 1000);
const workers = intFlag(args, "--workers", 2);
const idleSeconds = intFlag(args, "--idle-seconds", 120);
const concurrency = intFlag(args, "--concurrency", 0);
const workerEnv: Record<string, string> = {
  ...(concurrency > 0 ? { PROCESSING_CONCURRENCY: String(concurrency) } : {}),
  ...envFlags(args),
};

const bench = await openBench(join(ROOT, ".data", "bench-processing"));
if (args.includes("--binary")) bench.binary = resolve(args[args.indexOf("--binary") + 1] ?? "");
try {
  const ceiling = await sdkCeiling(bench, workers, tasks);
  const withRecords = await sdkWithRecordsCeiling(bench, workers, tasks);
  const withRecordsFetch = await bareLoopProcesses(bench.emu, await freshStore(bench), workers, tasks);
  // The same loops with as many tasks in flight as a worker runs (PROCESSING_CONCURRENCY), the workers' layout.
  const conc = concurrency > 0 ? concurrency : 8;
  const matched = conc === 32
    ? withRecordsFetch
    : await bareLoopProcesses(bench.emu, await freshStore(bench), workers, tasks, undefined, conc);
  const { result, run, queueName, store } = await processingThroughput(bench, workers, tasks, workerEnv);
  progress("enqueue-to-start while busy: 50 tasks, one every 100 ms");
  const busy = await enqueueToStart(bench, store, queueName, 50, 100);
  let idle: { polls: number; latency: Awaited<ReturnType<typeof enqueueToStart>> } | undefined;
  if (idleSeconds > 0) {
    const polls = await idlePolls(run, workers, 60, idleSeconds);
    progress("enqueue-to-start once backed off: 3 tasks, 20 s apart");
    idle = { polls, latency: await enqueueToStart(bench, store, queueName, 3, 20_000) };
  }
  const shutdownMs = await run.stop();

  const f = (n: number, d = 1) => n.toFixed(d);
  // The bare loops run in this process: compare CPU per task under the binary's runtime (Bun) for like with like.
  const versions = process.versions as Record<string, string | undefined>;
  const loopRuntime = versions.bun ? `Bun ${versions.bun}` : versions.deno ? `Deno ${versions.deno}` : "Node.js";
  console.log(
    `\nprocessing benchmark: ${tasks} pass-through tasks, ${workers} worker process(es) × concurrency ${conc}, binary ${bench.binary}`,
  );
  console.log(
    `  bare SDK loop, ${workers} loop(s) × 32 in flight, receive + delete:                          ${
      f(ceiling)
    } msg/s`,
  );
  console.log(
    `  bare SDK loop, ${workers} loop(s) × 32 in flight, receive + the task's Cosmos calls + delete: ${
      f(withRecords.perSecond)
    } tasks/s (the SDKs' own HTTP client)`,
  );
  console.log(
    `  the same over fetch, one loop per process in ${workers} process(es) of their own (as our workers run): ${
      f(withRecordsFetch.perSecond)
    } tasks/s`,
  );
  if (matched !== withRecordsFetch) {
    console.log(
      `  the same, ${conc} in flight per process (as many as a worker runs at once): ${f(matched.perSecond)} tasks/s`,
    );
  }
  console.log(
    `  contentflow-worker: ${f(result.tasksPerSecond)} tasks/s  (ratio ${
      f(result.tasksPerSecond / ceiling, 2)
    } to the queue-only loop, ${f(result.tasksPerSecond / withRecords.perSecond, 2)} to the loop with Cosmos calls)${
      result.failed ? `  ${result.failed} FAILED` : ""
    }`,
  );
  const perTask = (x: number | undefined) => f(x ?? NaN, 2);
  const ours = result.workerCpuMsPerTask ?? NaN;
  console.log(
    `  CPU per task: workers ${perTask(ours)} ms, bare loop (${loopRuntime}) ${
      perTask(withRecords.cpuMsPerMessage)
    } ms with the SDKs' HTTP client (ratio ${f(ours / withRecords.cpuMsPerMessage, 2)}), ${
      perTask(withRecordsFetch.cpuMsPerMessage)
    } ms over fetch in processes of their own (ratio ${f(ours / withRecordsFetch.cpuMsPerMessage, 2)})${
      matched !== withRecordsFetch
        ? `, ${perTask(matched.cpuMsPerMessage)} ms with ${conc} in flight (ratio ${
          f(ours / matched.cpuMsPerMessage, 2)
        })`
        : ""
    }; supervisor ${
      perTask(result.supervisorCpuMsPerTask)
    } ms  (workers and supervisor from ready on; start-up of the workers ${f(result.workerStartCpuMs ?? NaN, 0)} ms)`,
  );
  console.log(
    `  receive calls per task (calls that returned messages): workers ${
      f(result.receivesPerTask ?? NaN, 3)
    }, bare loop ${f(withRecords.receives / tasks, 3)}`,
  );
  console.log(`  Python worker (measured, 2 workers, defaults): ${PYTHON.tasksPerSecond2Workers} tasks/s`);
  console.log(
    `  enqueue-to-start while busy: median ${f(busy.median, 2)} s, p95 ${f(busy.p95, 2)} s, max ${f(busy.max, 2)} s`,
  );
  if (idle) {
    console.log(`  idle polls per minute per worker: ${f(idle.polls, 2)}  (Python: ${PYTHON.idlePollsPerMinute})`);
    console.log(`  enqueue-to-start when backed off: median ${f(idle.latency.median)} s, max ${f(idle.latency.max)} s`);
  }
  console.log(
    `  RSS while busy (most sampled): supervisor ${result.rssSupervisor ?? "?"} MiB, workers ${
      result.rssChildren.join(", ")
    } MiB; a bare loop's own process (the SDKs, the fetch transport and the loop, nothing else) ${withRecordsFetch.peakRssMiB} MiB`,
  );
  console.log(`  shutdown (SIGTERM to exit): ${Math.round(shutdownMs)} ms`);
  if (result.failed) process.exitCode = 1;
} finally {
  await bench.emu.stop();
}
