// `contentflow-worker poison …` through the compiled binary, on poison records made the real way: tasks of a
// pipeline that does not exist yet are set aside by a processing worker; once the pipeline exists they are re-driven.
// A requeue killed half way and run again neither loses nor doubles a task. Claim-check pointers and spilled
// originals that name blobs outside the claim-check container are never followed, by the worker or the command.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import type { QueueClient } from "@azure/storage-queue";
import { BlobServiceClient } from "@azure/storage-blob";
import {
  createVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
  upsertPipeline,
} from "../helpers/seeded-store.ts";
import {
  type E2eFleetEnv,
  e2eFleetEnv,
  type Finished,
  finishedExecutions,
  pipelineYaml,
  sleep,
  tcpProxy,
  uniqueName,
  until,
} from "../helpers/e2e-kit.ts";

/** CLAIM_CHECK_CONTAINER_NAME's default (the binary runs with it). */
const CLAIM_CHECKS = "contentflow-claim-checks";

describe("poison command (compiled binary)", () => {
  let e: E2eFleetEnv;

  before(async () => {
    e = await e2eFleetEnv();
  });

  after(async () => {
    await e?.stop();
  });

  /** The binary as a command on `queue` (its poison queue is `<queue>-poison`). */
  function cli(args: string[], queue: string): Promise<Finished> {
    return e.run(args, { env: { STORAGE_WORKER_QUEUE_NAME: queue } });
  }

  /** `n` tasks of a pipeline that does not exist yet, all set aside by a processing worker. */
  async function poisoned(
    n: number,
  ): Promise<{ queue: QueueClient; poison: QueueClient; vault: string; pipeline: string }> {
    const queue = namedQueue(e.emu, uniqueName("poison-q"));
    await queue.create();
    const poison = namedQueue(e.emu, `${queue.name}-poison`);
    const vault = uniqueName("poison-v");
    await createVault(e.store, vault);
    const pipeline = uniqueName("later-pipeline");
    await preloadTasks(e.store, queue, Array.from({ length: n }, (_, i) => passThroughTask(vault, i, pipeline)));
    const run = await e.fleet.start(queue.name, { NUM_PROCESSING_WORKERS: "1" });
    await until(
      `${n} poison records`,
      async () => (await poison.exists()) && (await queueLength(poison)) === n,
      60_000,
    );
    await run.stop();
    return { queue, poison, vault, pipeline };
  }

  async function createPipeline(id: string): Promise<void> {
    const step = `{id: call, type: http, settings: {url: "http://127.0.0.1:${e.slow.port}/slow?ms=5", max_retries: 0}}`;
    await upsertPipeline(e.store, id, pipelineYaml(id, [step]));
  }

  test("list, show, requeue by pipeline, and the re-driven tasks complete", { timeout: 180_000 }, async () => {
    const { queue, poison, vault, pipeline } = await poisoned(5);
    const list = await cli(["poison", "list", "--json"], queue.name);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<Record<string, string | number | null>>;
    assert.equal(rows.length, 5);
    for (const r of rows) {
      assert.equal(r.pipeline_id, pipeline);
      assert.equal(r.vault_id, vault);
      assert.match(String(r.reason), new RegExp(`pipeline ${pipeline} not found`));
      assert.match(String(r.execution_id), /^exec_/);
      assert.equal(r.deliveries, 1);
    }
    assert.equal(await queueLength(poison), 5, "list leaves every record in place");
    const text = await cli(["poison", "list"], queue.name);
    assert.match(text.stdout, /^ID +SET ASIDE +DELIVERIES +PIPELINE/m);
    assert.match(text.stdout, /5 record\(s\) in /);

    const show = await cli(["poison", "show", String(rows[0].id)], queue.name);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`execution: +${rows[0].execution_id}`));
    assert.match(show.stdout, /"task_type":"content_processing"/, "the original message is shown");
    assert.equal((await cli(["poison", "show", "no-such-id"], queue.name)).code, 1);

    const dry = await cli(["poison", "requeue", "--pipeline", pipeline, "--dry-run"], queue.name);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: 5 record\(s\) would be requeued/);
    assert.equal(await queueLength(poison), 5);

    await createPipeline(pipeline);
    const other = await cli(["poison", "requeue", "--pipeline", "some-other-pipeline"], queue.name);
    assert.match(other.stdout, /0 requeued/);
    const requeue = await cli(["poison", "requeue", "--pipeline", pipeline, "--json"], queue.name);
    assert.equal(requeue.code, 0, requeue.stderr);
    const { outcomes } = JSON.parse(requeue.stdout);
    assert.equal(outcomes.filter((o: { result: string }) => o.result === "requeued").length, 5);
    assert.equal(await queueLength(poison), 0);
    assert.equal(await queueLength(queue), 5);
    const record = await e.store.db.container(e.store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS)
      .item(String(rows[0].execution_id), String(rows[0].execution_id)).read();
    assert.equal(record.resource.status, "pending");
    assert.equal(record.resource.redrive.state, "queued");
    assert.equal(record.resource.redrive.poison_message_id, rows[0].id);

    const before = e.slow.requests();
    const run = await e.fleet.start(queue.name, { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1" });
    const docs = await finishedExecutions(e.store, vault, 5);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.error}`), []);
    assert.equal(e.slow.requests() - before, 5);
    await run.stop();
  });

  test("a requeue killed half way and run again: nothing lost, nothing run twice", { timeout: 240_000 }, async () => {
    const n = 40;
    const concurrency = 8;
    const { queue, poison, vault, pipeline } = await poisoned(n);
    await createPipeline(pipeline);
    const requeue = ["poison", "requeue", "--all", "--lease-seconds", "5", "--concurrency", String(concurrency)];
    const first = e.start(requeue, { env: { STORAGE_WORKER_QUEUE_NAME: queue.name } });
    await until("part of the records requeued", async () => (await queueLength(queue)) >= 8, 60_000);
    process.kill(first.pid, "SIGKILL");
    await first.finished;
    const queuedAtKill = await queueLength(queue);
    assert.ok(queuedAtKill < n, `killed half way (${queuedAtKill} of ${n} queued)`);
    // The killed command's claims run out, then the same command finishes the job.
    await until("poison records visible again", async () => {
      const r = await cli(["poison", "list", "--json"], queue.name);
      // The queue's count includes claimed records; the list sees only visible ones.
      return JSON.parse(r.stdout).length === await queueLength(poison);
    }, 60_000);
    const second = await cli(requeue, queue.name);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.equal(await queueLength(poison), 0, "every poison record is gone");
    // A record the killed command had sent but not yet marked queued is sent again, with a new re-drive id: the
    // first copy is superseded (acknowledged without running). At most one such copy per record in flight.
    const queued = await queueLength(queue);
    assert.ok(
      queued >= n && queued <= n + concurrency,
      `${queued} task messages for ${n} tasks (at most ${concurrency} superseded copies)`,
    );

    const before = e.slow.requests();
    const run = await e.fleet.start(queue.name, { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1" });
    const docs = await finishedExecutions(e.store, vault, n, 120_000);
    assert.equal(docs.length, n);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.error}`), []);
    await until("queue empty", async () => (await queueLength(queue)) === 0, 60_000);
    assert.equal(e.slow.requests() - before, n, "each task ran exactly once");
    await run.stop();
  });

  test("a re-drive longer than --lease-seconds keeps the leases of the records still waiting", {
    timeout: 240_000,
  }, async () => {
    const n = 50;
    const { queue, poison, pipeline } = await poisoned(n);
    await createPipeline(pipeline);
    // One record at a time, and Cosmos behind a proxy that holds each request back 60 ms: with three Cosmos calls
    // per record the re-drive lasts at least 9 s, well beyond its 5 s claim.
    const slowCosmos = await tcpProxy(Number(new URL(e.emu.cosmosEndpoint).port), { delayMs: 60 });
    let finished = false;
    const requeue = e.run(["poison", "requeue", "--all", "--lease-seconds", "5", "--concurrency", "1"], {
      env: { STORAGE_WORKER_QUEUE_NAME: queue.name, COSMOS_DB_ENDPOINT: `http://127.0.0.1:${slowCosmos.port}/` },
    }).finally(() => (finished = true));
    try {
      // Peeking sees the visible records without claiming them. Once the requeue has read them all, none may show
      // again: one whose claim ran out before the requeue reached it would.
      const visible = async () => (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length;
      await until("the requeue has read every record", async () => finished || (await visible()) === 0, 60_000);
      const readAt = Date.now();
      let checkedAfterClaim = 0;
      while (!finished) {
        assert.equal(await visible(), 0, `no poison record visible ${Date.now() - readAt} ms after the read`);
        if (Date.now() - readAt > 6_000) checkedAfterClaim++;
        await sleep(250);
      }
      const r = await requeue;
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(
        checkedAfterClaim > 0,
        "the re-drive outlasted the claims it took first (else this test shows nothing)",
      );
    } finally {
      await requeue.catch(() => undefined);
      await slowCosmos.close();
    }
    assert.equal(await queueLength(poison), 0);
    assert.equal(await queueLength(queue), n);
  });

  test("purge asks for --yes without a terminal, then deletes old records", { timeout: 120_000 }, async () => {
    const { queue, poison } = await poisoned(3);
    const none = await cli(["poison", "purge", "--older-than", "1d", "--yes"], queue.name);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /0 record\(s\) deleted/);
    await sleep(1500); // every record is now more than 1 s old
    const ask = await cli(["poison", "purge", "--older-than", "1s"], queue.name);
    assert.equal(ask.code, 2);
    assert.match(ask.stderr, /Add --yes to confirm/);
    assert.equal(await queueLength(poison), 3);
    const purge = await cli(["poison", "purge", "--older-than", "1s", "--yes"], queue.name);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /3 record\(s\) deleted/);
    assert.equal(await queueLength(poison), 0);
    const bad = await cli(["poison", "purge", "--older-than", "soon"], queue.name);
    assert.equal(bad.code, 2);
  });

  test("blobs in another container survive the worker and a poison purge, whatever a message or record names", {
    timeout: 120_000,
  }, async () => {
    const queue = namedQueue(e.emu, uniqueName("climb-q"));
    await queue.create();
    const poison = namedQueue(e.emu, `${queue.name}-poison`);
    const blobs = BlobServiceClient.fromConnectionString(e.emu.env.BLOB_STORAGE_CONNECTION_STRING);
    const claims = blobs.getContainerClient(CLAIM_CHECKS);
    await claims.createIfNotExists();
    const other = blobs.getContainerClient(uniqueName("documents"));
    await other.create();
    const vault = uniqueName("climb-v");
    await createVault(e.store, vault);
    // Each blob holds a valid task of an execution that is completed: a pointer that was followed would have its
    // blob deleted without being read (the acknowledge-duplicate path), or read and run.
    const executions = e.store.db.container(e.store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
    const pointers: string[] = [];
    for (const [i, name] of ["climb", "foreign", "encoded"].entries()) {
      const task = passThroughTask(vault, i);
      await other.getBlockBlobClient(`${name}.json`).upload(JSON.stringify(task), JSON.stringify(task).length);
      // (The foreign one has no record: the worker tries to read it, is refused, and poisons it.)
      if (name !== "foreign") {
        await executions.items.create({ id: task.payload.execution_id, status: "completed", vault_id: vault });
      }
      const blob = {
        climb: `../${other.containerName}/${name}.json`,
        foreign: `tasks/${task.payload.task_id}.json`,
        encoded: `tasks/%2e%2e/%2e%2e/${other.containerName}/${name}.json`,
      }[name]!;
      const container = name === "foreign" ? other.containerName : CLAIM_CHECKS;
      if (name === "foreign") {
        await other.getBlockBlobClient(blob).upload(JSON.stringify(task), JSON.stringify(task).length);
      }
      pointers.push(JSON.stringify({
        task_type: "content_processing",
        claim_check: { container, blob, task_id: task.payload.task_id, execution_id: task.payload.execution_id },
      }));
    }
    for (const p of pointers) await queue.sendMessage(p);
    // A poison record written by hand, whose spilled original climbs into the other container.
    await other.getBlockBlobClient("spilled.txt").upload("x", 1);
    await poison.createIfNotExists();
    await poison.sendMessage(JSON.stringify({
      message: "{",
      reason: "by hand",
      dequeue_count: 1,
      worker_id: "w",
      time: new Date(Date.now() - 60_000).toISOString(),
      queue: queue.name,
      message_id: "m1",
      message_blob: { container: CLAIM_CHECKS, blob: `poison/${queue.name}/../../${other.containerName}/spilled.txt` },
      message_truncated: true,
    }));
    const names = async () => {
      const out: string[] = [];
      for await (const b of other.listBlobsFlat()) out.push(b.name);
      return out.sort();
    };
    const before = await names();
    assert.equal(before.length, 5);

    const run = await e.fleet.start(queue.name, { NUM_PROCESSING_WORKERS: "1" });
    await until("4 poison records", async () => (await queueLength(poison)) === 4, 60_000);
    await run.stop();
    assert.deepEqual(await names(), before, "the worker read or deleted nothing in the other container");
    const list = await cli(["poison", "list", "--json"], queue.name);
    const reasons = (JSON.parse(list.stdout) as Array<{ reason: string }>).map((r) => r.reason).sort();
    assert.equal(
      reasons.filter((r) => /is not tasks\/<task_id>\.json .*refused/.test(r)).length,
      2,
      reasons.join("\n"),
    );
    assert.equal(reasons.filter((r) => /is not CLAIM_CHECK_CONTAINER_NAME/.test(r)).length, 1, reasons.join("\n"));

    const show = await cli([
      "poison",
      "show",
      "--json",
      JSON.parse(list.stdout).find((r: { reason: string }) => r.reason === "by hand").id,
    ], queue.name);
    assert.match(JSON.parse(show.stdout).problem, /spilled original .* refused/);
    const requeue = await cli(["poison", "requeue", "--all", "--json"], queue.name);
    assert.equal(requeue.code, 1, "none of them can be re-driven");
    assert.deepEqual(await names(), before, "show and requeue read or deleted nothing in the other container");

    await sleep(1500);
    const purge = await cli(["poison", "purge", "--older-than", "1s", "--yes"], queue.name);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /4 record\(s\) deleted/);
    assert.deepEqual(await names(), before, "purge deleted nothing in the other container");
  });

  test("/metrics and /status report the task and poison queue depth and the oldest task's age", {
    timeout: 120_000,
  }, async () => {
    const { queue, vault } = await poisoned(2);
    await preloadTasks(e.store, queue, Array.from({ length: 7 }, (_, i) => passThroughTask(vault, 100 + i)));
    const run = await e.fleet.start(queue.name, {
      NUM_PROCESSING_WORKERS: "0",
      NUM_SOURCE_WORKERS: "0",
      QUEUE_METRICS_INTERVAL_SECONDS: "1",
    });
    const metrics = await until("backlog in /metrics", async () => {
      const text = await (await run.get("/metrics")).text();
      return text.includes("contentflow_worker_queue_messages") ? text : undefined;
    }, 30_000);
    assert.match(metrics, new RegExp(`contentflow_worker_queue_messages\\{queue="${queue.name}",kind="tasks"\\} 7`));
    assert.match(
      metrics,
      new RegExp(`contentflow_worker_queue_messages\\{queue="${queue.name}-poison",kind="poison"\\} 2`),
    );
    assert.match(metrics, /^contentflow_worker_queue_oldest_message_age_seconds\{queue="[^"]+"\} \d+$/m);
    const status = await (await run.get("/status")).json();
    assert.equal(status.backlog.task_queue.messages, 7);
    assert.equal(status.backlog.poison_queue.messages, 2);
    assert.ok(status.backlog.task_queue.oldest_message_age_seconds >= 0);
    await run.stop();
  });
});
