// The benchmark report: one command, one session on the same emulators, writes BENCHMARKS.md and
// docs/benchmarks-throughput.svg. Measures the bare SDK loop ceiling and our throughput with 1, 2 and 4 processing
// workers, idle polls per minute, enqueue-to-start latency (busy and backed off), child restart latency, shutdown
// time, resident memory, and binary start-to-ready time, next to the figures measured for the Python worker.
//
// First, the first crawl of a vault of 20,000 and of 200,000 blobs against a bare listing loop
// (scripts/lib/bench-crawl.ts, on emulators of their own, with the vaults written into Azurite's store first).
//
//   bun scripts/bench.ts [--tasks N] [--repeat R] [--out FILE]      (also: npm run bench; deno run -A works too, the
//   bare SDK loops then run on Deno instead of the binary's runtime)
//     --tasks         tasks per throughput run (default 1000)
//     --repeat        throughput repetitions; the report shows medians (default 3)
//     --out           report path (default BENCHMARKS.md; the plot goes to docs/benchmarks-throughput.svg)
//     --crawl-sizes   vault sizes of the crawl section, comma-separated (default 20000,200000; 0 leaves it out)
//     --crawl-repeat  crawl rounds per size, bare loop and worker alternately (default 2)
import process from "node:process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { intFlag, median, progress, rssMiB } from "./lib/bench-kit.ts";
import { BinaryRun } from "../tests/helpers/binary-run.ts";
import { createVault, namedQueue, passThroughTask, preloadTasks, queueLength } from "../tests/helpers/seeded-store.ts";
import { sleep } from "../src/util/sleep.ts";
import {
  bareLoopProcesses,
  enqueueToStart,
  freshStore,
  openBench,
  processingEnv,
  processingThroughput,
  PYTHON,
  restartLatency,
  sdkCeiling,
  sdkWithRecordsCeiling,
  type ThroughputResult,
} from "./lib/bench-measure.ts";
import { buildInfo } from "../src/runtime/build-info.ts";
import { settingMeta } from "../src/config/schema.ts";
import { compareCrawls, type CrawlComparison, crawlTable } from "./lib/bench-crawl.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: bun scripts/bench.ts [--tasks N] [--repeat R] [--out FILE] [--crawl-sizes 20000[,200000]] [--crawl-repeat R]   (or deno run -A scripts/bench.ts ...)",
  );
  process.exit(0);
}
const tasks = intFlag(args, "--tasks", 1000);
const repeat = Math.max(1, intFlag(args, "--repeat", 3));
const outIndex = args.indexOf("--out");
if (outIndex >= 0 && !args[outIndex + 1]) {
  console.error("--out needs a file name");
  process.exit(2);
}
const outFile = resolve(ROOT, outIndex >= 0 ? args[outIndex + 1] : "BENCHMARKS.md");
const plotFile = join(ROOT, "docs", "benchmarks-throughput.svg");
const WORKER_COUNTS = [1, 2, 4];
const IDLE_WARM_S = 60;
const IDLE_WINDOW_S = 120;
/** Messages one SDK loop has in flight (a receive of 32, handled in parallel). */
const SDK_IN_FLIGHT = 32;
/** Tasks a worker runs at once at default settings: the bare loops laid out like the workers keep as many in flight. */
const WORKER_IN_FLIGHT = Number(settingMeta.PROCESSING_CONCURRENCY.default);

/** The runtime running this script, and with it the bare SDK loops (the binary's is Bun). */
const versions = process.versions as Record<string, string | undefined>;
const RUNTIME = versions.bun ? `Bun ${versions.bun}` : versions.deno ? `Deno ${versions.deno}` : "Node.js";
const COMMAND = versions.bun ? "bun scripts/bench.ts" : "deno run -A scripts/bench.ts";

const crawlIndex = args.indexOf("--crawl-sizes");
const crawlSizes = (crawlIndex >= 0 ? args[crawlIndex + 1] ?? "" : "20000,200000").split(",").map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const crawlRepeat = Math.max(1, intFlag(args, "--crawl-repeat", 2));

/** How long the tasks of the busy-shutdown measure stay invisible after their send. */
const SHUTDOWN_HIDE_SECONDS = 10;
const f = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(d));
const started = new Date();

// The crawl first, on emulators of its own (the vaults written into Azurite's store), stopped before the rest starts.
let crawls: CrawlComparison[] = [];
if (crawlSizes.length > 0) {
  const crawlBench = await openBench(join(ROOT, ".data", "bench-crawl"));
  try {
    crawls = await compareCrawls(crawlBench, crawlSizes, crawlRepeat, [{ label: "worker", path: crawlBench.binary }]);
  } finally {
    await crawlBench.emu.stop();
  }
}

const bench = await openBench(join(ROOT, ".data", "bench"));
const { emu, binary } = bench;
const runs: BinaryRun[] = [];
try {
  const start = async (queue: string, workers: number, extra: Record<string, string> = {}) => {
    const run = await BinaryRun.start(binary, processingEnv(bench, queue, workers, extra));
    runs.push(run);
    return run;
  };

  // Start-to-ready and idle shutdown, three times; idle memory from the first.
  progress("start-to-ready and idle shutdown, 3 runs");
  const readyMs: number[] = [];
  const idleShutdownMs: number[] = [];
  let idleRss: { supervisor?: number; worker?: number } = {};
  for (let i = 0; i < 3; i++) {
    const queue = `bench-start-${i}`;
    await namedQueue(emu, queue).createIfNotExists();
    const run = await start(queue, 2);
    readyMs.push(await run.waitReady());
    if (i === 0) {
      await sleep(2000);
      const kids = (await run.children()).filter((c) => c.pid);
      idleRss = { supervisor: rssMiB(run.pid), worker: median(kids.map((c) => rssMiB(c.pid!) ?? NaN)) };
    }
    idleShutdownMs.push(await run.stop());
  }

  // An idle supervisor runs beside everything else; its polls are counted at the end.
  const idleQueue = "bench-idle";
  await namedQueue(emu, idleQueue).createIfNotExists();
  const idleStore = await freshStore(bench);
  const idleRun = await start(idleQueue, 2, { COSMOS_DB_NAME: idleStore.config.COSMOS_DB_NAME });
  await idleRun.waitReady();
  const idleSince = performance.now();
  const idleFirst = sleep(IDLE_WARM_S * 1000).then(async () => ({
    at: performance.now(),
    polls: (await idleRun.processingCounters()).queue_polls_total ?? 0,
  }));

  const ceilings = new Map<number, number>();
  const recordCeilings = new Map<number, number>();
  const bareProcessCpu = new Map<number, number>();
  const bareProcessRate = new Map<number, number>();
  const bareMatchedCpu = new Map<number, number>();
  const bareMatchedRate = new Map<number, number>();
  const oursCpu = new Map<number, number>();
  const ours = new Map<number, ThroughputResult>();
  const oursWide = new Map<number, ThroughputResult>();
  let busy: Awaited<ReturnType<typeof enqueueToStart>> | undefined;
  let restarts: number[] = [];
  let busyShutdownMs = NaN;
  let leftQueued = NaN;
  // Repetitions interleave every kind of run, so a noisy moment on a shared machine hits them alike; each cell of
  // the table is the median over the repetitions.
  const samples = {
    sdk: new Map<number, number[]>(),
    records: new Map<number, number[]>(),
    bareCpu: new Map<number, number[]>(),
    bareRate: new Map<number, number[]>(),
    matchedCpu: new Map<number, number[]>(),
    matchedRate: new Map<number, number[]>(),
    oursCpu: new Map<number, number[]>(),
    wide: new Map<number, number[]>(),
    ours: new Map<number, number[]>(),
  };
  const push = (m: Map<number, number[]>, w: number, v: number) => m.set(w, [...(m.get(w) ?? []), v]);
  for (let rep = 1; rep <= repeat; rep++) {
    progress(`throughput, repetition ${rep} of ${repeat}`);
    const last = rep === repeat;
    for (const workers of WORKER_COUNTS) {
      push(samples.sdk, workers, await sdkCeiling(bench, workers, tasks));
      push(samples.records, workers, (await sdkWithRecordsCeiling(bench, workers, tasks)).perSecond);
      const own = await bareLoopProcesses(emu, await freshStore(bench), workers, tasks);
      push(samples.bareCpu, workers, own.cpuMsPerMessage);
      push(samples.bareRate, workers, own.perSecond);
      const matched = await bareLoopProcesses(
        emu,
        await freshStore(bench),
        workers,
        tasks,
        undefined,
        WORKER_IN_FLIGHT,
      );
      push(samples.matchedCpu, workers, matched.cpuMsPerMessage);
      push(samples.matchedRate, workers, matched.perSecond);
      const wide = await processingThroughput(bench, workers, tasks, { PROCESSING_CONCURRENCY: String(SDK_IN_FLIGHT) });
      push(samples.wide, workers, wide.result.tasksPerSecond);
      oursWide.set(workers, wide.result);
      await wide.run.stop();
      const { result, run, queueName, store } = await processingThroughput(bench, workers, tasks, {
        RESTART_STABLE_SECONDS: "2",
      });
      runs.push(run);
      push(samples.ours, workers, result.tasksPerSecond);
      push(samples.oursCpu, workers, result.workerCpuMsPerTask ?? NaN);
      ours.set(workers, result);
      if (last && workers === 2) {
        progress("enqueue-to-start while busy: 50 tasks, one every 100 ms");
        busy = await enqueueToStart(bench, store, queueName, 50, 100);
        progress("child restart latency: SIGKILL a processing child 3 times");
        restarts = await restartLatency(run, 3, 3000);
        progress("shutdown while busy: 1000 tasks queued, SIGTERM once the workers have finished the first");
        await createVault(store, "bench-shutdown");
        const queue = namedQueue(emu, queueName);
        // Sent invisible for a while, so that they become visible together once all are queued (the workers finish
        // tasks faster than they can be queued one by one); SIGTERM as soon as the supervisor counts the first done
        // (the workers report counters within about 1 s).
        const tasks = Array.from({ length: 1000 }, (_, i) => passThroughTask("bench-shutdown", i));
        const processed = async () => (await run.processingCounters()).tasks_processed_total ?? 0;
        const before = await processed();
        await preloadTasks(store, queue, tasks, SHUTDOWN_HIDE_SECONDS);
        const deadline = Date.now() + 90_000;
        while (Date.now() < deadline && (await processed()) <= before) await sleep(100);
        busyShutdownMs = await run.stop();
        leftQueued = await queueLength(queue);
      } else {
        await run.stop();
      }
    }
  }
  for (const workers of WORKER_COUNTS) {
    ceilings.set(workers, median(samples.sdk.get(workers)!));
    recordCeilings.set(workers, median(samples.records.get(workers)!));
    bareProcessCpu.set(workers, median(samples.bareCpu.get(workers)!));
    bareProcessRate.set(workers, median(samples.bareRate.get(workers)!));
    bareMatchedCpu.set(workers, median(samples.matchedCpu.get(workers)!));
    bareMatchedRate.set(workers, median(samples.matchedRate.get(workers)!));
    oursCpu.set(workers, median(samples.oursCpu.get(workers)!));
    oursWide.set(workers, { ...oursWide.get(workers)!, tasksPerSecond: median(samples.wide.get(workers)!) });
    ours.set(workers, { ...ours.get(workers)!, tasksPerSecond: median(samples.ours.get(workers)!) });
  }

  progress("idle polls: waiting for the counting window to close");
  const first = await idleFirst;
  const remaining = IDLE_WINDOW_S * 1000 - (performance.now() - first.at);
  if (remaining > 0) await sleep(remaining);
  await sleep(2500); // the children's counters reach the supervisor with their 2 s heartbeat
  const last = (await idleRun.processingCounters()).queue_polls_total ?? 0;
  const idlePollsPerMin = (last - first.polls) / ((performance.now() - 2500 - first.at) / 60_000) / 2;
  progress(
    `idle polls: ${f(idlePollsPerMin, 2)} per minute per worker (after ${
      Math.round((first.at - idleSince) / 1000)
    } s idle)`,
  );
  progress("enqueue-to-start when backed off: 3 tasks, 20 s apart");
  const idleLatency = await enqueueToStart(bench, idleStore, idleQueue, 3, 20_000);
  await idleRun.stop();

  const report = renderReport({
    ceilings,
    recordCeilings,
    bareProcessCpu,
    bareProcessRate,
    bareMatchedCpu,
    bareMatchedRate,
    oursCpu,
    ours,
    oursWide,
    leftQueued,
    busy: busy!,
    idleLatency,
    idlePollsPerMin,
    restarts,
    readyMs,
    idleShutdownMs,
    busyShutdownMs,
    idleRss,
    crawls,
  });
  mkdirSync(dirname(plotFile), { recursive: true });
  writeFileSync(plotFile, renderPlot({ ceilings, recordCeilings, ours, oursWide }));
  writeFileSync(outFile, report + handWrittenSection(outFile));
  console.log(report);
  progress(`wrote ${relative(ROOT, outFile)} and ${relative(ROOT, plotFile)}`);
} finally {
  for (const run of runs) await run.stop("SIGKILL").catch(() => undefined);
  await emu.stop();
}

interface Throughputs {
  ceilings: Map<number, number>;
  recordCeilings: Map<number, number>;
  ours: Map<number, ThroughputResult>;
  oursWide: Map<number, ThroughputResult>;
}

interface Measured extends Throughputs {
  /** CPU ms per task of the bare loop over fetch, one loop per process of its own (median). */
  bareProcessCpu: Map<number, number>;
  /** Tasks per second of the same (median). */
  bareProcessRate: Map<number, number>;
  /** The same two with as many tasks in flight per loop as a worker runs at default settings (medians). */
  bareMatchedCpu: Map<number, number>;
  bareMatchedRate: Map<number, number>;
  /** Worker CPU ms per task at default settings (median). */
  oursCpu: Map<number, number>;
  leftQueued: number;
  busy: { median: number; p95: number; max: number };
  idleLatency: { median: number; p95: number; max: number };
  idlePollsPerMin: number;
  restarts: number[];
  readyMs: number[];
  idleShutdownMs: number[];
  busyShutdownMs: number;
  idleRss: { supervisor?: number; worker?: number };
  crawls: CrawlComparison[];
}

function renderReport(m: Measured): string {
  const ours2 = m.ours.get(2)!;
  const rows = WORKER_COUNTS.map((w) => {
    const r = m.ours.get(w)!;
    const wide = m.oursWide.get(w)!;
    const sdk = m.ceilings.get(w)!;
    const records = m.recordCeilings.get(w)!;
    const python = w === 2 ? `${PYTHON.tasksPerSecond2Workers}` : "";
    return `| ${w} | ${f(sdk)} | ${f(records)} | ${f(r.tasksPerSecond)} | ${f(wide.tasksPerSecond)} | ` +
      `${f(wide.tasksPerSecond / sdk, 2)} | ${f(r.tasksPerSecond / records, 2)} / ${
        f(wide.tasksPerSecond / records, 2)
      } | ${f(m.oursCpu.get(w), 2)} | ${f(m.bareProcessRate.get(w))} tasks/s, ${
        f(m.bareProcessCpu.get(w), 2)
      } ms/task | ${f(m.bareMatchedRate.get(w))} tasks/s, ${f(m.bareMatchedCpu.get(w), 2)} ms/task | ${
        f(m.oursCpu.get(w)! / m.bareMatchedCpu.get(w)!, 2)
      } / ${f(m.oursCpu.get(w)! / m.bareProcessCpu.get(w)!, 2)} | ${python} |`;
  });
  const cpu = cpus();
  return `# Benchmarks

Measured by \`${COMMAND} --tasks ${tasks} --repeat ${repeat}\` (the bare SDK loops on ${RUNTIME}) on ${
    started.toISOString().slice(0, 10)
  }: contentflow-worker ${buildInfo().version}
(the \`bun build --compile\` binary), Azurite (queue on disk) and the Cosmos emulator (\`@vercel/cosmosdb-server\`) on
the same machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "CPU"} (${arch()}), ${Math.round(totalmem() / 2 ** 30)} GiB.
Every task is a real ContentFlow task: a pass-through pipeline, a pending execution record written first (as the
source worker does), then running and completed written with etag checks. The Python worker's figures were
measured on this class of machine against the same emulators (issue 5); they are not re-run here.

![Throughput vs processing workers](docs/benchmarks-throughput.svg)

## Throughput (${tasks} tasks per run, median of ${repeat} runs)

| processing workers | SDK loop: queue only, msg/s | SDK loop: queue + the same Cosmos calls, tasks/s | ours, default concurrency (8), tasks/s | ours, concurrency ${SDK_IN_FLIGHT}, tasks/s | ratio to queue-only loop | ratio to loop with Cosmos calls (default / concurrency ${SDK_IN_FLIGHT}) | worker CPU ms/task (default) | SDK loop with the Cosmos calls, one process per loop (as our workers), ${SDK_IN_FLIGHT} in flight: throughput, CPU | the same, ${WORKER_IN_FLIGHT} in flight (as a worker at default settings) | worker CPU ratio to those loops, ${WORKER_IN_FLIGHT} / ${SDK_IN_FLIGHT} in flight | Python worker, tasks/s |
|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

The SDK loops are ceilings written with the bare SDKs and nothing else: N loops (N = workers), each receiving 32
messages and handling them in parallel (${SDK_IN_FLIGHT} in flight per loop, so the "concurrency ${SDK_IN_FLIGHT}" column is the
like-for-like comparison). "Queue only" deletes each message — the ceiling of the queue. "Queue + the same Cosmos
calls" first makes, by hand, the Cosmos calls a task needs for its execution record (read the execution, pipeline
and vault together; replace running; replace completed, with If-Match) — the ceiling for the work our worker must
do. A task of ours costs those calls plus the pipeline run, logs and status reporting. "One process per loop" is the
same loop with the Cosmos calls run the way our workers run: one loop in each of N processes of its own
(scripts/bare-loop-process.ts), over the fetch transport our worker uses, each process paying its own start, JIT
warm-up and runtime, with its clock and CPU counted from the moment every process is ready, as the workers' are: the
throughput and CPU per task the SDKs and the runtime reach in our workers' layout without any of our code; once with
${SDK_IN_FLIGHT} tasks in flight per loop as above, once with ${WORKER_IN_FLIGHT}, as many as a worker runs at default settings (the
same layout as the "default concurrency" column; with more in flight, more answers arrive per turn of the event
loop and each turn's fixed cost is shared by more tasks). Worker CPU per task is the median over the repetitions,
counted from ready on. The emulators share the
machine's ${cpus().length} cores with the workers, so CPU is the limit here (worker CPU per task in the table; Azurite and the
Cosmos emulator spend more); against remote Azure services the limit is latency × concurrency instead. The Cosmos
emulator also answers every request with \`Connection: close\`, so each Cosmos call opens a new TCP connection here
(Cosmos DB keeps connections alive), which weighs on both columns with Cosmos calls.
Python reference: ${PYTHON.tasksPerSecond2Workers} tasks/s with 2 workers at default settings, ${PYTHON.tasksPerSecondFastPolling} tasks/s at 1 s polling.

## Latency, polling, restarts, shutdown, memory

| measure | contentflow-worker | Python worker |
|---|---|---|
| enqueue-to-start while busy (50 tasks, 10/s) | median ${f(m.busy.median, 2)} s, p95 ${f(m.busy.p95, 2)} s, max ${
    f(m.busy.max, 2)
  } s | — |
| enqueue-to-start when backed off (3 tasks) | median ${f(m.idleLatency.median)} s, max ${
    f(m.idleLatency.max)
  } s (poll cap QUEUE_POLL_INTERVAL_SECONDS = 30 s) | up to 5 s (fixed 5 s polling) |
| idle queue polls per minute per worker | ${
    f(m.idlePollsPerMin, 2)
  } (counted over ${IDLE_WINDOW_S} s after ${IDLE_WARM_S} s idle) | ${PYTHON.idlePollsPerMinute} |
| child restart after SIGKILL, until ready again | median ${f(median(m.restarts) / 1000, 2)} s (${
    m.restarts.map((r) => f(r / 1000, 2)).join(", ")
  } s) | ${PYTHON.restartSeconds} s |
| shutdown (SIGTERM to exit), idle | median ${f(median(m.idleShutdownMs) / 1000, 2)} s | ${PYTHON.shutdownSeconds} s |
| shutdown (SIGTERM to exit), 1000 tasks queued and flowing (SIGTERM once the first are done) | ${
    f(m.busyShutdownMs / 1000, 2)
  } s (${f(m.leftQueued, 0)} tasks left queued for the next start) | — |
| start-to-ready (spawn to /ready 200, 2 workers) | median ${f(median(m.readyMs) / 1000, 2)} s (${
    m.readyMs.map((r) => f(r / 1000, 2)).join(", ")
  } s) | — |
| resident memory, idle | supervisor ${f(m.idleRss.supervisor)} MiB, worker ${f(m.idleRss.worker)} MiB | — |
| resident memory, busy (2 workers) | supervisor ${f(ours2.rssSupervisor)} MiB, workers ${
    ours2.rssChildren.map((r) => f(r)).join(", ")
  } MiB | — |

Idle polling backs off from QUEUE_MIN_POLL_INTERVAL_MS (100 ms) to QUEUE_POLL_INTERVAL_SECONDS (30 s) with ±20 %
jitter, so an idle worker settles at 2 polls per minute; a message that arrives then waits for the next poll.
While messages flow the queue is polled again at once. Restart latency includes the supervisor's restart back-off
floor (500 ms).
${
    m.crawls.length
      ? `
## Crawl (first crawl of a vault, median of ${crawlRepeat} alternating rounds)

${crawlTable(m.crawls)}

One source worker (\`worker --role=source --once\`, batch_size 100, pass-through pipeline, a new vault and so no
checkpoint each run) against a bare SDK loop in the benchmark's process that lists the container 5,000 blobs per
call and, per 100 blobs, creates an execution record in Cosmos and sends one queue message, one after the other.
The worker's blobs/s count the crawl itself (its "crawl finished" duration); "spawn to exit" includes the process
start; peak RSS is the worker's VmHWM. The worker lists 2,500 blobs per call. Our task message carries each blob as
a full ContentFlow content item, so 100 blobs are over the queue's 64 KiB and go as two messages (two records): the
worker makes twice the bare loop's Cosmos and queue calls. The vaults are written into Azurite's store before it
starts (scripts/lib/azurite-seed.ts), one vault per store.
\`bun scripts/bench-crawl.ts\` measures this section alone (\`--compare PATH\` runs an older build alternately).
`
      : ""
  }
## Reproduce

\`\`\`sh
npm install
bun scripts/bench.ts                      # rewrites BENCHMARKS.md and the plot (bare loops on Bun, the binary's runtime;
                                          # \`deno run -A scripts/bench.ts\` runs them on Deno); about 20 minutes,
                                          # of which the crawl section (20,000 and 200,000 blobs) about 7
                                          # (--crawl-sizes 20000 leaves the large vault out)
bun scripts/bench-crawl.ts                # the crawl figures alone, printed with a table to paste (--quick, --sizes,
                                          # --repeat, --compare PATH)
deno run -A scripts/bench-processing.ts   # the processing figures alone, printed (--tasks, --workers, --idle-seconds)
bun scripts/bench-processing.ts           # the same, with the bare loops on the binary's runtime (compare CPU per task)
deno run -A scripts/bench-redrive.ts      # poison requeue --all of 1,000 records, printed (--records, --concurrency, --binary)
\`\`\`
Both start their own emulators on free loopback ports and build the binary first if it is older than \`src/\`.
Numbers vary by machine and between runs (this shared VM swings by a factor of two at times, hence medians of
interleaved repetitions); compare ratios measured in one run, not across runs.
`;
}

/**
 * The sections of the report being replaced that this script does not write (added by hand: re-drive, documents,
 * templates, the CPU profile write-up), in their order, or "". A function declaration, so it is ready when the
 * top-level code above calls it.
 */
function handWrittenSection(file: string): string {
  if (!existsSync(file)) return "";
  const generated = new Set(["Throughput", "Latency, polling, restarts, shutdown, memory", "Crawl", "Reproduce"]);
  const sections = readFileSync(file, "utf8").split(/^(?=## )/m).slice(1);
  const kept = sections.filter((section) => {
    const heading = /^## ([^\n(]*)/.exec(section)?.[1].trim() ?? "";
    return !generated.has(heading);
  });
  return kept.length ? "\n" + kept.join("") : "";
}

function renderPlot(t: Throughputs): string {
  const W = 680, H = 380, left = 70, right = 250, top = 40, bottom = 60;
  const plotW = W - left - right, plotH = H - top - bottom;
  const series = [
    { name: "SDK loop, queue only", color: "#888", dash: "6 4", points: t.ceilings },
    { name: "SDK loop + Cosmos calls", color: "#8250df", dash: "2 3", points: t.recordCeilings },
    { name: `ours, concurrency ${SDK_IN_FLIGHT}`, color: "#1a7f37", dash: "", points: mapValues(t.oursWide) },
    { name: "ours, default (8)", color: "#1f6feb", dash: "", points: mapValues(t.ours) },
  ];
  const values = series.flatMap((s) => [...s.points.values()]);
  const max = Math.ceil(Math.max(...values) * 1.1 / 50) * 50;
  const x = (w: number) => left + (WORKER_COUNTS.indexOf(w) / (WORKER_COUNTS.length - 1)) * plotW;
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const ticks = Array.from({ length: 6 }, (_, i) => (max / 5) * i);
  const lines = series.map((s) => {
    const pts = WORKER_COUNTS.map((w) => [x(w), y(s.points.get(w)!), s.points.get(w)!] as const);
    const d = pts.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
    const dots = pts.map(([px, py, v]) =>
      `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3.5" fill="${s.color}"/>` +
      `<text x="${(px + 5).toFixed(1)}" y="${(py - 6).toFixed(1)}" font-size="10" fill="${s.color}">${
        v.toFixed(0)
      }</text>`
    ).join("");
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"${
      s.dash ? ` stroke-dasharray="${s.dash}"` : ""
    }/>${dots}`;
  });
  const legend = series.map((s, i) =>
    `<line x1="0" x2="24" y1="${i * 22}" y2="${i * 22}" stroke="${s.color}" stroke-width="2.5"${
      s.dash ? ` stroke-dasharray="${s.dash}"` : ""
    }/>` +
    `<text x="30" y="${i * 22 + 4}">${s.name}</text>`
  );
  const py = y(PYTHON.tasksPerSecond2Workers);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${left}" y="24" font-size="15" font-weight="bold">Throughput vs processing workers (${tasks} pass-through tasks per run)</text>
${
    ticks.map((v) =>
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${
        y(v).toFixed(1)
      }" stroke="#ddd"/><text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${
        v.toFixed(0)
      }</text>`
    ).join("\n")
  }
${
    WORKER_COUNTS.map((w) =>
      `<text x="${x(w).toFixed(1)}" y="${top + plotH + 18}" font-size="12" text-anchor="middle">${w}</text>`
    ).join("\n")
  }
<text x="${left + plotW / 2}" y="${H - 18}" font-size="12" text-anchor="middle">processing worker processes</text>
<text x="18" y="${top + plotH / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 18 ${
    top + plotH / 2
  })">tasks (messages) per second</text>
${lines.join("\n")}
<rect x="${(x(2) - 5).toFixed(1)}" y="${(py - 5).toFixed(1)}" width="10" height="10" fill="#d1242f"/>
<text x="${(x(2) + 8).toFixed(1)}" y="${
    (py + 4).toFixed(1)
  }" font-size="11" fill="#d1242f">${PYTHON.tasksPerSecond2Workers}</text>
<g font-size="12" transform="translate(${left + plotW + 20},${top + 10})">
${legend.join("\n")}
<rect x="7" y="${series.length * 22 - 5}" width="10" height="10" fill="#d1242f"/><text x="30" y="${
    series.length * 22 + 4
  }">Python worker (2, defaults)</text>
</g>
</svg>
`;
}

function mapValues(results: Map<number, ThroughputResult>): Map<number, number> {
  return new Map([...results].map(([w, r]) => [w, r.tasksPerSecond]));
}
