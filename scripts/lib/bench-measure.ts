// The measurements of the benchmark scripts, each against the emulators and the compiled binary of one session.
import process from "node:process";
import { rmSync } from "node:fs";
import { type Emulators, startEmulators } from "./emulators.ts";
import { ensureBinary } from "../../tests/helpers/binary.ts";
import { uniqueName } from "../../tests/helpers/wait.ts";
import {
  bareRecordCalls,
  cpuSeconds,
  median,
  percentile,
  preloadPlain,
  progress,
  rssMiB,
  sdkLoop,
} from "./bench-kit.ts";
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
  const rate = await sdkLoop(queue, loops, n);
  await queue.delete();
  progress(`SDK loop x${loops}: ${rate.toFixed(1)} msg/s`);
  return rate;
}

/**
 * The same loop, doing by hand with the SDK the Cosmos calls of a task (bareRecordCalls) before each delete: the
 * ceiling for the work a task needs, without our worker around it. Messages per second.
 */
export async function sdkWithRecordsCeiling(bench: Bench, loops: number, n: number): Promise<number> {
  const queue = namedQueue(bench.emu, uniqueName("bench-sdk-records"));
  const vault = uniqueName("bench-sdk-vault");
  const store = await freshStore(bench);
  await queue.create();
  await createVault(store, vault);
  progress(`SDK loop + records x${loops}: preloading ${n} tasks`);
  await preloadTasks(store, queue, Array.from({ length: n }, (_, i) => passThroughTask(vault, i)));
  const rate = await sdkLoop(queue, loops, n, (text) => bareRecordCalls(store, text));
  await queue.delete();
  progress(`SDK loop + records x${loops}: ${rate.toFixed(1)} tasks/s`);
  return rate;
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
  /** Resident memory in MiB: the supervisor, and each processing child, sampled while busy. */
  rssSupervisor?: number;
  rssChildren: number[];
  /** CPU milliseconds the processing workers used per task (their start-up included). */
  workerCpuMsPerTask?: number;
}

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
  let rssChildren: number[] = [];
  let rssSupervisor: number | undefined;
  const sampler = (async () => {
    await sleep(3000);
    rssSupervisor = rssMiB(run.pid);
    const kids = (await run.children().catch(() => [])).filter((c) => c.pid);
    rssChildren = kids.map((c) => rssMiB(c.pid!)).filter((x): x is number => x !== undefined);
  })();
  // Progress from the supervisor's counters (cheap); Cosmos is read once at the end, for the timestamps.
  const deadline = Date.now() + 15 * 60_000;
  for (let shown = -1;;) {
    const c = await run.processingCounters().catch(() => ({} as Record<string, number>));
    const finished = (c.tasks_processed_total ?? 0) + (c.tasks_poisoned_total ?? 0);
    if (finished >= n) break;
    if (finished !== shown) progress(`  ${finished}/${n} tasks finished`);
    shown = finished;
    if (Date.now() > deadline) throw new Error(`only ${finished} of ${n} tasks finished in 15 minutes`);
    await sleep(1000);
  }
  const docs = await waitCompleted(store, vault, n, 60_000);
  await sampler;
  const cpu = (await run.children()).map((c) => (c.pid ? cpuSeconds(c.pid) : undefined));
  const workerCpuMsPerTask = cpu.every((c) => c !== undefined)
    ? (cpu as number[]).reduce((a, b) => a + b, 0) * 1000 / n
    : undefined;
  const first = Math.min(...docs.map((d) => ms(d.started_at)).filter(Number.isFinite));
  const last = Math.max(...docs.map((d) => ms(d.completed_at)).filter(Number.isFinite));
  const tasksPerSecond = n / ((last - first) / 1000);
  const failed = docs.filter((d) => d.status !== "completed").length;
  progress(`binary x${workers}: ${tasksPerSecond.toFixed(1)} tasks/s${failed ? `, ${failed} failed` : ""}`);
  if (await queueLength(queue) !== 0) progress("  (the queue is not empty after all executions finished)");
  const result = { workers, tasks: n, tasksPerSecond, failed, rssSupervisor, rssChildren, workerCpuMsPerTask };
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
