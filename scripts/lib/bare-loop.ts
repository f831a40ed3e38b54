// The bare SDK loop that sets the benchmarks' throughput ceiling: the queue and Cosmos calls of a task by hand with
// the SDKs and nothing else. It imports no more than the SDK types and sleep, so that scripts/bare-loop-process.ts
// can run it in a process that holds nothing of ours but these lines (its memory and CPU are the SDKs' and the
// runtime's).
import process from "node:process";
import type { Database } from "@azure/cosmos";
import type { QueueClient } from "@azure/storage-queue";
import type { TaskMessage } from "../../src/model/task-envelope.ts";
import type { Config } from "../../src/config/schema.ts";
import { sleep } from "../../src/util/sleep.ts";

/** What one run of the bare SDK loop measured. */
export interface LoopRun {
  /** Messages handled per second. */
  perSecond: number;
  /** Receive calls that returned messages (empty polls not counted). */
  receives: number;
  /** CPU milliseconds (user + system) the process running the loop used while it ran, per message. */
  cpuMsPerMessage: number;
  /** The most resident memory of the process running the loop, sampled while it ran (MiB). */
  peakRssMiB: number;
}

/**
 * The ceiling: `loops` loops, each receiving up to 32 messages and handling them `inFlight` at a time (all 32 at
 * once by default), until `n` are deleted; `work` (if given) runs for each message before its delete. The loops run
 * in this process, so its CPU while they run is theirs (the caller does nothing else meanwhile).
 */
export async function sdkLoop(
  queue: QueueClient,
  loops: number,
  n: number,
  work?: (text: string) => Promise<unknown>,
  inFlight = 32,
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
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(inFlight, receivedMessageItems.length) }, async () => {
        for (let m = receivedMessageItems[next++]; m; m = receivedMessageItems[next++]) {
          if (work) await work(m.messageText);
          await queue.deleteMessage(m.messageId, m.popReceipt);
        }
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

/** The database and container names the bare Cosmos calls use. */
export interface BareStore {
  db: Database;
  config: Pick<
    Config,
    "COSMOS_DB_CONTAINER_VAULT_EXECUTIONS" | "COSMOS_DB_CONTAINER_PIPELINES" | "COSMOS_DB_CONTAINER_VAULTS"
  >;
}

/**
 * The Cosmos calls a processing worker makes for one task, by hand with the SDK and nothing else: read the
 * execution, pipeline and vault together, replace the execution as running, then as completed (If-Match).
 */
export async function bareRecordCalls({ db, config }: BareStore, text: string): Promise<void> {
  const task = JSON.parse(text) as TaskMessage;
  const { execution_id: id, vault_id: vault, pipeline_id: pipeline } = task.payload;
  const executions = db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  const [read] = await Promise.all([
    executions.item(id, id).read(),
    db.container(config.COSMOS_DB_CONTAINER_PIPELINES).item(pipeline, pipeline).read(),
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
