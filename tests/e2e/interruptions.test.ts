// Hung-worker kills do not spend the retry budget of the tasks that were in the worker: the compiled binary's
// processing child is frozen (SIGSTOP, as a CPU-bound step would block it) twice while healthy tasks are in flight,
// the supervisor kills it for its missing heartbeats each time, and with MAX_TASK_RETRIES=1 — where one kill counted
// as a failed run would poison every task it held — every task completes and nothing reaches the poison queue.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  createVault,
  executionRecordsOfVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
} from "../helpers/seeded-store.ts";
import type { BinaryRun } from "../helpers/binary-run.ts";
import {
  alive,
  type E2eFleetEnv,
  e2eFleetEnv,
  finishedExecutions,
  pipelineYaml,
  uniqueName,
  until,
} from "../helpers/e2e-kit.ts";

describe("hung-worker kills and the retry budget", () => {
  let env: E2eFleetEnv;
  const frozen: number[] = [];

  before(async () => {
    env = await e2eFleetEnv();
  });

  after(async () => {
    for (const pid of frozen) if (alive(pid)) process.kill(pid, "SIGKILL");
    await env?.stop();
  });

  /** The processing child, once one other than `not` runs and a task of it has called the slow service. */
  async function busyChild(run: BinaryRun, callsBefore: number, not?: number | null) {
    return await until("a processing child with a task in its http step", async () => {
      const child = (await run.children()).find((c) => c.role === "processing" && c.alive && c.pid !== not);
      return child?.pid && env.slow.requests() > callsBefore ? child : undefined;
    }, 45_000);
  }

  test("a child killed twice as hung with healthy tasks in flight: no task is charged a failure, none is poisoned", {
    timeout: 180_000,
  }, async () => {
    const pipeline = uniqueName("slow-int");
    const step = `{id: call, type: http, settings: {url: "http://127.0.0.1:${env.slow.port}/slow?ms=1500", ` +
      `max_retries: 0, request_timeout_secs: 120}}`;
    await env.store.db.container(env.store.config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
      id: pipeline,
      name: pipeline,
      yaml: pipelineYaml(pipeline, [step]),
    });
    const queue = namedQueue(env.emu, uniqueName("int-q"));
    await queue.create();
    const vault = uniqueName("int-v");
    await createVault(env.store, vault);
    const n = 12;
    await preloadTasks(env.store, queue, Array.from({ length: n }, (_, i) => passThroughTask(vault, i, pipeline)));
    const run = await env.fleet.start(queue.name, {
      NUM_PROCESSING_WORKERS: "1",
      MAX_TASK_RETRIES: "1",
      RETRY_BASE_DELAY_SECONDS: "0",
      WORKER_HEARTBEAT_TIMEOUT_SECONDS: "5",
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: "3",
    });
    await run.waitReady();
    let victim = await busyChild(run, 0);
    for (let kill = 1; kill <= 2; kill++) {
      frozen.push(victim.pid!);
      process.kill(victim.pid!, "SIGSTOP");
      const replacement = await until(
        `the hung child replaced (kill ${kill})`,
        async () =>
          (await run.children()).find((c) => c.role === "processing" && c.alive && c.pid && c.pid !== victim.pid),
        30_000,
      );
      assert.equal(replacement.heartbeat_kills, kill);
      if (kill < 2) victim = await busyChild(run, env.slow.requests(), victim.pid);
    }
    await finishedExecutions(env.store, vault, n, 120_000);
    const records = await executionRecordsOfVault(env.store, vault);
    assert.deepEqual(
      records.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.status} ${d.error}`),
      [],
      "every task completed",
    );
    assert.ok(records.some((d) => (d.interruptions ?? 0) >= 1), "the kills interrupted tasks in flight");
    assert.deepEqual(records.filter((d) => (d.task_failures ?? 0) > 0).map((d) => d.id), [], "no failure charged");
    const poison = namedQueue(env.emu, `${queue.name}-poison`);
    assert.equal((await poison.exists()) ? await queueLength(poison) : 0, 0, "nothing poisoned");
    await run.stop();
  });
});
