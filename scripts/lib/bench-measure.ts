// The measurements of the benchmark scripts, each against the emulators and the compiled binary of one session.
import process from "node:process";
import { rmSync } from "node:fs";
import { type Emulators, startEmulators } from "../../tests/helpers/emulators.ts";
import { ensureBinary, ROOT } from "../../tests/helpers/binary.ts";
import { uniqueName } from "../../tests/helpers/wait.ts";
import { cpuSeconds, median, percentile, preloadPlain, progress, rssMiB } from "./bench-kit.ts";
import { bareRecordCalls, type LoopRun, sdkLoop } from "./bare-loop.ts";
import { BinaryRun } from "../../tests/helpers/binary-run.ts";
import {
  createVault,
  executionsOfVault,
  type ExecutionTimes,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
  seedCosmos,
  type SeededStore,
} from "../../tests/helpers/seeded-store.ts";
import { sleep } from "../../src/util/sleep.ts";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";

export interface Bench {
  emu: Emulators;
  store: SeededStore;
  binary: string;
}

/** Builds the binary if stale, starts fresh emulators with their data under `dataDir`, seeds Cosmos. */
export async function openBench(dataDir: string): Promise<Bench> {
  progress("building the binary (if stale) and starting the emulators");
  const binary = ensureBinary();
  rmSync(dataDir, { recursive: true, force: true });
  const emu = await startEmulators({ dir: dataDir });
  try {
    return { emu, store: await seedCosmos(emu), binary };
  } catch (err) {
    await emu.stop();
    throw err;
  }
}

/** A database of its own for one measurement (seeded with the pipeline). */
export async function freshStore(bench: Bench): Promise<SeededStore> {
  return await seedCosmos(bench.emu, uniqueName("benchdb"));
}

/** Env of a supervisor with `workers` processing workers (no source workers) on its own queue. */
export function processingEnv(bench: Bench, queue: string, workers: number, extra: Record<string, string> = {}) {
  return {
    ...bench.emu.env,
    WORKER_NAME: uniqueName("bench"),
    STORAGE_WORKER_QUEUE_NAME: queue,
    NUM_PROCESSING_WORKERS: String(workers),
    NUM_SOURCE_WORKERS: "0",
    ...extra,
  };
}

/** Messages per second of the bare SDK loop (receive 32 + delete in parallel) with `loops` loops. */
export async function sdkCeiling(bench: Bench, loops: number, n: number): Promise<number> {
  const queue = namedQueue(bench.emu, uniqueName("bench-sdk"));
  await queue.create();
  progress(`SDK loop x${loops}: preloading ${n} messages`);
  await preloadPlain(queue, n, "sdk");
  const { perSecond } = await sdkLoop(queue, loops, n);
  await queue.delete();
  progress(`SDK loop x${loops}: ${perSecond.toFixed(1)} msg/s`);
  return perSecond;
}

/**
 * The same loop, doing by hand with the SDK the Cosmos calls of a task (bareRecordCalls) before each delete: the
 * ceiling for the work a task needs, without our worker around it: tasks per second, receive calls, and the loop's
 * own CPU per task (the loops run in this process, under the runtime running the benchmark).
 */
export async function sdkWithRecordsCeiling(bench: Bench, loops: number, n: number): Promise<LoopRun> {
  const queue = namedQueue(bench.emu, uniqueName("bench-sdk-records"));
  const vault = uniqueName("bench-sdk-vault");
  const store = await freshStore(bench);
  await queue.create();
  await createVault(store, vault);
  progress(`SDK loop + records x${loops}: preloading ${n} tasks`);
  await preloadTasks(store, queue, Array.from({ length: n }, (_, i) => passThroughTask(vault, i)));
  const run = await sdkLoop(queue, loops, n, (text) => bareRecordCalls(store, text));
  await queue.delete();
  progress(
    `SDK loop + records x${loops}: ${run.perSecond.toFixed(1)} tasks/s, ${
      run.cpuMsPerMessage.toFixed(2)
    } ms CPU per task, ${(run.receives / n).toFixed(3)} receive calls per task`,
  );
  return run;
}

/**
 * The same loop with the task's Cosmos calls, one loop per process as our workers run one worker per process
 * (scripts/bare-loop-process.ts, started under the runtime running the benchmark, each with a queue of its own and
 * its share of the `n` tasks): each process pays its own start, JIT warm-up and runtime overhead, as each worker
 * does, and each sends over the fetch transport our worker uses by default. The clock and the CPU count start when
 * every process is ready. `runtime`: what runs the loop processes (default: the runtime running this script; the
 * compiled binary's is Bun).
 */
export async function bareLoopProcesses(
  emu: Emulators,
  store: SeededStore,
  processes: number,
  n: number,
  runtime: "bun" | "deno" = (process.versions as Record<string, string | undefined>).bun ? "bun" : "deno",
  /** Messages each loop handles at once (default 32, all it receives per call). */
  inFlight = 32,
): Promise<LoopRun> {
  const label = `bare loop over fetch in ${processes} ${runtime} process(es), ${inFlight} in flight each`;
  const shares = Array.from({ length: processes }, (_, i) => Math.floor(n / processes) + (i < n % processes ? 1 : 0));
  progress(`${label}: preloading ${n} tasks`);
  const queues = await Promise.all(shares.map(async (share) => {
    const queue = namedQueue(emu, uniqueName("bench-bare-process"));
    const vault = uniqueName("bench-bare-vault");
    await queue.create();
    await createVault(store, vault);
    await preloadTasks(store, queue, Array.from({ length: share }, (_, i) => passThroughTask(vault, i)));
    return queue;
  }));
  const script = join(ROOT, "scripts", "bare-loop-process.ts");
  const bin = join(ROOT, "node_modules", ".bin");
  const [command, runtimeArgs] = runtime === "bun"
    ? [join(bin, "bun"), [script]]
    : [join(bin, "deno"), ["run", "-A", "--no-check", script]];
  const children = shares.map((share, i) => {
    const spec = {
      queueConnectionString: emu.queueConnectionString,
      queueName: queues[i].name,
      cosmosEndpoint: emu.cosmosEndpoint,
      cosmosKey: emu.env.COSMOS_DB_KEY,
      databaseName: store.config.COSMOS_DB_NAME,
      containers: {
        executions: store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS,
        pipelines: store.config.COSMOS_DB_CONTAINER_PIPELINES,
        vaults: store.config.COSMOS_DB_CONTAINER_VAULTS,
      },
      tasks: share,
      inFlight,
    };
    const child = spawn(command, runtimeArgs, {
      env: { ...process.env, BARE_LOOP_SPEC: JSON.stringify(spec), NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      lines.on("line", (line) => line === "ready" && resolve());
      child.once("exit", (code) => reject(new Error(`${label}: a loop process exited with ${code} before ready`)));
    });
    const result = new Promise<LoopRun>((resolve, reject) => {
      lines.on("line", (line) => line.startsWith("{") && resolve(JSON.parse(line) as LoopRun));
      child.once("exit", (code) => reject(new Error(`${label}: a loop process exited with ${code} without a result`)));
    });
    // Awaited below once every process is ready; until then an early exit must not count as unhandled.
    result.catch(() => {});
    ready.catch(() => {});
    return { child, ready, result, share };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    const t0 = performance.now();
    for (const c of children) c.child.stdin!.write("go\n");
    const runs = await Promise.all(children.map((c) => c.result));
    const seconds = (performance.now() - t0) / 1000;
    const run: LoopRun = {
      perSecond: n / seconds,
      receives: runs.reduce((sum, r) => sum + r.receives, 0),
      cpuMsPerMessage: runs.reduce((sum, r, i) => sum + r.cpuMsPerMessage * children[i].share, 0) / n,
      peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    };
    progress(
      `${label}: ${run.perSecond.toFixed(1)} tasks/s, ${
        run.cpuMsPerMessage.toFixed(2)
      } ms CPU per task, most RSS ${run.peakRssMiB} MiB`,
    );
    return run;
  } finally {
    for (const c of children) if (c.child.exitCode === null) c.child.kill("SIGKILL");
    await Promise.all(queues.map((q) => q.delete().catch(() => {})));
  }
}

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);

async function waitCompleted(
  store: SeededStore,
  vault: string,
  n: number,
  timeoutMs: number,
): Promise<ExecutionTimes[]> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const docs = await executionsOfVault(store, vault);
    const done = docs.filter((d) => d.status === "completed" || d.status === "failed");
    if (done.length >= n) return docs;
    if (done.length !== last) progress(`  ${done.length}/${n} executions finished`);
    last = done.length;
    if (Date.now() > deadline) throw new Error(`only ${done.length} of ${n} executions finished in ${timeoutMs} ms`);
    await sleep(1000);
  }
}

export interface ThroughputResult {
  workers: number;
  tasks: number;
  /** Tasks per second from the first task's start to the last task's completion (Cosmos timestamps). */
  tasksPerSecond: number;
  failed: number;
  /** Resident memory in MiB: the supervisor, and each processing child, the most sampled while busy. */
  rssSupervisor?: number;
  rssChildren: number[];
  /**
   * CPU milliseconds the processing workers used per task, counted from the moment all of them were ready (their
   * start-up is not per-task work), over the tasks completed from then on.
   */
  workerCpuMsPerTask?: number;
  /** The same for the supervisor (it forwards the workers' log lines and state reports). */
  supervisorCpuMsPerTask?: number;
  /** CPU milliseconds the processing workers used from spawn to ready (all of them together). */
  workerStartCpuMs?: number;
  /** Receive calls of the workers that returned messages, per task (empty polls not counted). */
  receivesPerTask?: number;
}

/** Waits until every processing child of `run` reports ready; returns them (polled every 20 ms). */
async function readyChildren(run: BinaryRun, workers: number) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const kids = await run.children().catch(() => []);
    const ready = kids.filter((c) => c.role === "processing" && c.ready && c.pid);
    if (ready.length >= workers) return ready;
    if (Date.now() > deadline) throw new Error(`the ${workers} processing workers were not ready within 60 s`);
    await sleep(20);
  }
}

const sum = (values: (number | undefined)[]) =>
  values.every((v) => v !== undefined) ? (values as number[]).reduce((a, b) => a + b, 0) : undefined;

/**
 * Preloads `n` pass-through tasks (pending records + messages), then starts the binary with `workers` processing
 * workers and measures until every execution finished. Returns the result and the still-running binary.
 */
export async function processingThroughput(
  bench: Bench,
  workers: number,
  n: number,
  extraEnv: Record<string, string> = {},
): Promise<{ result: ThroughputResult; run: BinaryRun; queueName: string; store: SeededStore }> {
  const queueName = uniqueName("bench-tasks");
  const vault = uniqueName("bench-vault");
  const queue = namedQueue(bench.emu, queueName);
  const store = await freshStore(bench);
  await queue.create();
  await createVault(store, vault);
  progress(`binary x${workers}: preloading ${n} tasks`);
  await preloadTasks(store, queue, Array.from({ length: n }, (_, i) => passThroughTask(vault, i)));
  const run = await BinaryRun.start(
    bench.binary,
    processingEnv(bench, queueName, workers, { COSMOS_DB_NAME: store.config.COSMOS_DB_NAME, ...extraEnv }),
  );
  // CPU from the moment every worker is ready: a worker is ready after its first receive, so a few tasks may
  // already be running then; only tasks completed after this moment are counted against it.
  const kids = await readyChildren(run, workers);
  const readyAt = Date.now();
  const pids = kids.map((c) => c.pid!);
  const workerCpu0 = sum(pids.map(cpuSeconds));
  const supervisorCpu0 = cpuSeconds(run.pid);
  const rssMax = new Map<number, number>();
  let rssSupervisor: number | undefined;
  let sampling = true;
  const sampler = (async () => {
    // The most resident memory of each process while tasks flow, sampled every 250 ms.
    while (sampling) {
      for (const pid of pids) {
        const rss = rssMiB(pid);
        if (rss !== undefined) rssMax.set(pid, Math.max(rssMax.get(pid) ?? 0, rss));
      }
      const sup = rssMiB(run.pid);
      if (sup !== undefined) rssSupervisor = Math.max(rssSupervisor ?? 0, sup);
      await sleep(250);
    }
  })();
  // Progress from the supervisor's counters (cheap); Cosmos is read once at the end, for the timestamps.
  const deadline = Date.now() + 15 * 60_000;
  let counters: Record<string, number> = {};
  for (let shown = -1;;) {
    counters = await run.processingCounters().catch(() => counters);
    const finished = (counters.tasks_processed_total ?? 0) + (counters.tasks_poisoned_total ?? 0);
    if (finished >= n) break;
    if (finished !== shown) progress(`  ${finished}/${n} tasks finished`);
    shown = finished;
    if (Date.now() > deadline) throw new Error(`only ${finished} of ${n} tasks finished in 15 minutes`);
    await sleep(1000); // not more often: each look is a /status request the supervisor's CPU answers
  }
  const workerCpu1 = sum(pids.map(cpuSeconds));
  const supervisorCpu1 = cpuSeconds(run.pid);
  sampling = false;
  await sampler;
  const docs = await waitCompleted(store, vault, n, 60_000);
  const afterReady = docs.filter((d) => ms(d.completed_at) >= readyAt).length;
  const perTask = (a?: number, b?: number) =>
    a !== undefined && b !== undefined && afterReady > 0 ? (b - a) * 1000 / afterReady : undefined;
  const workerCpuMsPerTask = perTask(workerCpu0, workerCpu1);
  const supervisorCpuMsPerTask = perTask(supervisorCpu0, supervisorCpu1);
  const first = Math.min(...docs.map((d) => ms(d.started_at)).filter(Number.isFinite));
  const last = Math.max(...docs.map((d) => ms(d.completed_at)).filter(Number.isFinite));
  const tasksPerSecond = n / ((last - first) / 1000);
  const failed = docs.filter((d) => d.status !== "completed").length;
  const receives = (counters.queue_polls_total ?? 0) - (counters.queue_empty_polls_total ?? 0);
  progress(
    `binary x${workers}: ${tasksPerSecond.toFixed(1)} tasks/s, ${workerCpuMsPerTask?.toFixed(2)} ms worker CPU ` +
      `per task, ${(receives / n).toFixed(3)} receive calls per task${failed ? `, ${failed} failed` : ""}`,
  );
  if (await queueLength(queue) !== 0) progress("  (the queue is not empty after all executions finished)");
  const result: ThroughputResult = {
    workers,
    tasks: n,
    tasksPerSecond,
    failed,
    rssSupervisor,
    rssChildren: pids.map((pid) => rssMax.get(pid)).filter((x): x is number => x !== undefined),
    workerCpuMsPerTask,
    supervisorCpuMsPerTask,
    workerStartCpuMs: workerCpu0 !== undefined ? workerCpu0 * 1000 : undefined,
    receivesPerTask: receives / n,
  };
  return { result, run, queueName, store };
}

/**
 * Enqueue-to-start latency: sends `count` tasks one every `everyMs` to the queue of a running binary (whose
 * database is `store`) and reads each execution's started_at. Returns seconds (median, p95, max).
 */
export async function enqueueToStart(
  bench: Bench,
  store: SeededStore,
  queueName: string,
  count: number,
  everyMs: number,
) {
  const vault = uniqueName("bench-latency");
  await createVault(store, vault);
  const queue = namedQueue(bench.emu, queueName);
  for (let i = 0; i < count; i++) {
    const task = passThroughTask(vault, i);
    await preloadTasks(store, queue, [task]);
    if (i < count - 1) await sleep(everyMs);
  }
  const docs = await waitCompleted(store, vault, count, 120_000);
  const seconds = docs.map((d) => (ms(d.started_at) - ms(d.created_at)) / 1000);
  return { median: median(seconds), p95: percentile(seconds, 95), max: Math.max(...seconds) };
}

/** Queue polls per minute per idle worker, counted over `windowSeconds` after `warmSeconds` of idling. */
export async function idlePolls(run: BinaryRun, workers: number, warmSeconds: number, windowSeconds: number) {
  progress(`idle polls: ${warmSeconds} s to back off, then counting for ${windowSeconds} s`);
  await sleep(warmSeconds * 1000);
  const before = (await run.processingCounters()).queue_polls_total ?? 0;
  const t0 = performance.now();
  await sleep(windowSeconds * 1000);
  // Counters reach the supervisor with the children's heartbeat (2 s); wait one beat so the window is complete.
  await sleep(2500);
  const after = (await run.processingCounters()).queue_polls_total ?? 0;
  const minutes = (performance.now() - t0 - 2500) / 60_000;
  return (after - before) / minutes / workers;
}

/** Milliseconds from SIGKILL of a processing child until its replacement reports ready (median of `times`). */
export async function restartLatency(run: BinaryRun, times: number, spacingMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    const victim = (await run.children()).find((c) => c.role === "processing" && c.alive && c.ready && c.pid);
    if (!victim) throw new Error("no ready processing child to kill");
    const t0 = performance.now();
    process.kill(victim.pid!, "SIGKILL");
    for (;;) {
      const next = (await run.children()).find((c) => c.role === "processing" && c.index === victim.index);
      if (next?.alive && next.ready && next.pid !== victim.pid) break;
      if (performance.now() - t0 > 60_000) throw new Error("the killed child was not replaced within 60 s");
      await sleep(20);
    }
    out.push(performance.now() - t0);
    await sleep(spacingMs);
  }
  return out;
}

export const PYTHON = {
  tasksPerSecond2Workers: 10.3,
  tasksPerSecondFastPolling: 26,
  idlePollsPerMinute: 12,
  restartSeconds: "12-24",
  shutdownSeconds: 31,
};
