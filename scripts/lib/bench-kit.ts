// Pieces of the benchmark scripts only: flags, progress lines, process figures from /proc, the bare SDK loop that
// sets the throughput ceiling, and statistics. What the tests share with the benchmarks (the compiled binary as a
// supervisor, the seeded Cosmos database, task preloading) lives in tests/helpers/.
import { readFileSync } from "node:fs";
import process from "node:process";
import type { QueueClient } from "@azure/storage-queue";
import type { TaskMessage } from "../../src/model/task-envelope.ts";
import { eachLimited } from "../../src/util/each-limited.ts";
import { sleep } from "../../src/util/sleep.ts";
import { passThroughTask, PIPELINE_ID, type SeededStore } from "../../tests/helpers/seeded-store.ts";

/** A whole-number flag `--name N` / `--name=N`; exits 2 with a message when it is not one. */
export function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const raw = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} needs a whole number, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

/** Every `--env KEY=VALUE` flag (repeatable) as settings; exits 2 with a message on one without "=". */
export function envFlags(args: string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== "--env") return;
    const [key, ...value] = (args[i + 1] ?? "").split("=");
    if (!key || value.length === 0) {
      console.error(`--env needs KEY=VALUE, got "${args[i + 1] ?? ""}"`);
      process.exit(2);
    }
    settings[key] = value.join("=");
  });
  return settings;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Prints a progress line on stderr (numbers go to stdout). */
export function progress(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

/** Fills a queue with `n` plain messages of the task size, for the SDK loop. */
export async function preloadPlain(queue: QueueClient, n: number, vaultId: string): Promise<void> {
  const texts = Array.from({ length: n }, (_, i) => JSON.stringify(passThroughTask(vaultId, i)));
  await eachLimited(texts, 16, (t) => queue.sendMessage(t));
}

/** What one run of the bare SDK loop measured. */
export interface LoopRun {
  /** Messages handled per second. */
  perSecond: number;
  /** Receive calls that returned messages (empty polls not counted). */
  receives: number;
  /** CPU milliseconds (user + system) this process used while the loop ran, per message. */
  cpuMsPerMessage: number;
  /** The most resident memory of this process sampled while the loop ran (MiB). */
  peakRssMiB: number;
}

/**
 * The ceiling: `loops` loops, each receiving up to 32 messages and deleting them all in parallel, until `n` are
 * deleted; `work` (if given) runs for each message before its delete. The loops run in this process, so its CPU
 * while they run is theirs (the benchmark does nothing else meanwhile).
 */
export async function sdkLoop(
  queue: QueueClient,
  loops: number,
  n: number,
  work?: (text: string) => Promise<unknown>,
): Promise<LoopRun> {
  let deleted = 0;
  let receives = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => peakRss = Math.max(peakRss, process.memoryUsage().rss), 200);
  await Promise.all(Array.from({ length: loops }, async () => {
    while (deleted < n) {
      const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
      if (receivedMessageItems.length === 0) {
        await sleep(20);
        continue;
      }
      receives++;
      await Promise.all(receivedMessageItems.map(async (m) => {
        if (work) await work(m.messageText);
        await queue.deleteMessage(m.messageId, m.popReceipt);
      }));
      deleted += receivedMessageItems.length;
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  return {
    perSecond: n / ((performance.now() - t0) / 1000),
    receives,
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / n,
    peakRssMiB: Math.round(Math.max(peakRss, process.memoryUsage().rss) / 1048576 * 10) / 10,
  };
}

/**
 * The Cosmos calls a processing worker makes for one task, by hand with the SDK and nothing else: read the
 * execution, pipeline and vault together, replace the execution as running, then as completed (If-Match).
 */
export async function bareRecordCalls({ db, config }: SeededStore, text: string): Promise<void> {
  const task = JSON.parse(text) as TaskMessage;
  const { execution_id: id, vault_id: vault } = task.payload;
  const executions = db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  const [read] = await Promise.all([
    executions.item(id, id).read(),
    db.container(config.COSMOS_DB_CONTAINER_PIPELINES).item(PIPELINE_ID, PIPELINE_ID).read(),
    db.container(config.COSMOS_DB_CONTAINER_VAULTS).item(vault!, vault!).read(),
  ]);
  const doc = read.resource!;
  const running = await executions.item(id, id).replace(
    { ...doc, status: "running", started_at: new Date().toISOString() },
    { accessCondition: { type: "IfMatch", condition: doc._etag } },
  );
  await executions.item(id, id).replace(
    { ...running.resource!, status: "completed", completed_at: new Date().toISOString() },
    { accessCondition: { type: "IfMatch", condition: running.resource!._etag } },
  );
}

export function rssMiB(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Math.round(Number(kb) / 1024 * 10) / 10 : undefined;
  } catch {
    return undefined;
  }
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}
