// Proof under fire: the compiled binary against Azurite + the Cosmos emulator, with load, crashes, signals, outages
// and bad input. Each scenario has its own queue and vault; supervisors are killed in `after` whatever happens.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import type { QueueClient } from "@azure/storage-queue";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import {
  createVault,
  executionsOfVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
  seedCosmos,
  type SeededStore,
} from "../helpers/seeded-store.ts";
import { ensureBinary } from "../helpers/binary.ts";
import type { BinaryRun } from "../helpers/binary-run.ts";
import {
  alive,
  duplicateCalls,
  finishedExecutions,
  Fleet,
  pipelineYaml,
  sleep,
  slowService,
  tcpProxy,
  uniqueName,
  until,
} from "../helpers/e2e-kit.ts";

// Each scenario has its own time limit (a normal run of the whole file takes about 1.5 min per runtime).
describe("compiled binary under fire", () => {
  let emu: Emulators;
  let store: SeededStore;
  let fleet: Fleet;
  let slow: Awaited<ReturnType<typeof slowService>>;

  before(async () => {
    const binary = ensureBinary();
    emu = await startEmulators();
    store = await seedCosmos(emu);
    fleet = new Fleet(binary, emu);
    slow = await slowService();
  });

  after(async () => {
    await fleet?.killAll();
    await slow?.close();
    await emu?.stop();
  });

  /** A pipeline whose `http` step waits `ms` in the slow service (tasks stay in flight that long). */
  async function slowPipeline(ms: number): Promise<string> {
    const id = `slow-${ms}`;
    const step =
      `{id: call, type: http, settings: {url: "http://127.0.0.1:${slow.port}/slow?ms=${ms}", max_retries: 0, request_timeout_secs: 120}}`;
    await store.db.container(store.config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
      id,
      name: id,
      yaml: pipelineYaml(id, [step]),
    });
    return id;
  }

  /** A queue and vault of the scenario's own, with `n` tasks (pending records + messages) already queued. */
  async function scenario(n: number, pipelineId?: string): Promise<{ queue: QueueClient; vault: string }> {
    const queue = namedQueue(emu, uniqueName("fault-q"));
    await queue.create();
    const vault = uniqueName("fault-v");
    await createVault(store, vault);
    if (n > 0) {
      await preloadTasks(
        store,
        queue,
        Array.from({ length: n }, (_, i) => passThroughTask(vault, i, pipelineId)),
      );
    }
    return { queue, vault };
  }

  async function poisonCount(queue: QueueClient): Promise<number> {
    const poison = namedQueue(emu, `${queue.name}-poison`);
    return (await poison.exists()) ? await queueLength(poison) : 0;
  }

  /** Tasks one processing child runs at once (the default `PROCESSING_CONCURRENCY`, which the fleet keeps). */
  const CHILD_CONCURRENCY = 8;

  /** Tasks in flight over the run's processing workers, as they last reported (at most a second old). */
  async function inFlight(run: BinaryRun): Promise<number> {
    return (await run.children()).reduce((a, c) => a + c.in_flight, 0);
  }

  /** The most tasks the run's processing workers can hold at once: the bound on what a fault can interrupt. */
  async function mostInFlight(run: BinaryRun): Promise<number> {
    return (await run.children()).filter((c) => c.role === "processing" && c.alive).length * CHILD_CONCURRENCY;
  }

  /**
   * Sends `signal` to one child and returns how many of its tasks may have been interrupted: the most it can hold at
   * once. Its reported in-flight count is not used, because a child reports it at most once a second (batched with
   * its counters), so at the moment of the signal it may have started more tasks than it last said.
   */
  function killCountingInFlight(pid: number, signal: NodeJS.Signals): number {
    process.kill(pid, signal);
    return CHILD_CONCURRENCY;
  }

  /**
   * Holds the run's workers gave up (renewals failing until the margin before expiry) or found lost: each one is a
   * task interrupted like a killed one. Short test holds on a busy machine make these happen besides the faults a
   * test injects. (Counters of a killed child since its last heartbeat are not included; its tasks count as in
   * flight at the kill.)
   */
  async function holdsGivenUp(...runs: BinaryRun[]): Promise<number> {
    await sleep(2500); // one heartbeat, so the counters are current
    let n = 0;
    for (const run of runs) {
      const c = await run.processingCounters();
      n += (c.leases_expired_total ?? 0) + (c.leases_lost_total ?? 0);
    }
    return n;
  }

  /**
   * The side effect (the slow service's call) of every one of `n` tasks happened, and repeats are no more than the
   * tasks in flight at the faults: only an interrupted task may run again, never one that had finished.
   */
  function assertSideEffects(vault: string, n: number, inFlightAtFaults: number, when: string): void {
    const calls = slow.callsOf(vault);
    assert.equal(calls.size, n, `every task called the service (${calls.size} of ${n})`);
    const repeated = duplicateCalls(calls);
    const most = [...calls].filter(([, n]) => n > 2).map(([k, n]) => `${k}: ${n}`);
    console.log(
      `side effects: ${repeated} repeated call(s); ${inFlightAtFaults} task(s) in flight ${when}` +
        (most.length ? `; called more than twice: ${most.join(", ")}` : ""),
    );
    assert.ok(
      repeated <= inFlightAtFaults,
      `${repeated} repeated calls, more than the ${inFlightAtFaults} tasks in flight ${when}`,
    );
  }

  test("(a) 500 tasks through two supervisors: each completed exactly once, queue and poison empty", {
    timeout: 90_000,
  }, async () => {
    const { queue, vault } = await scenario(500);
    const [one, two] = await Promise.all([fleet.start(queue.name), fleet.start(queue.name)]);
    const docs = await finishedExecutions(store, vault, 500);
    assert.equal(docs.length, 500);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), []);
    // Started once each: a second run of a task would have raised its attempt (the delivery count).
    const attempts = await store.db.container(store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items
      .query({
        query: "SELECT VALUE c.attempt FROM c WHERE c.vault_id = @v",
        parameters: [{ name: "@v", value: vault }],
      })
      .fetchAll();
    assert.ok(attempts.resources.every((a) => a === 1), "every task ran on its first delivery, once");
    const workers = new Set(docs.map((d) => d.processing_worker_id));
    assert.ok(workers.size >= 3, `work spread over both supervisors' workers (${[...workers].join(", ")})`);
    await until("queue empty", async () => (await queueLength(queue)) === 0);
    await sleep(2500); // one heartbeat, so the counters are current
    const processed = (await one.processingCounters()).tasks_processed_total +
      (await two.processingCounters()).tasks_processed_total;
    assert.equal(processed, 500, "500 tasks processed over both supervisors, no duplicates");
    assert.equal(await poisonCount(queue), 0);
    await Promise.all([one.stop(), two.stop()]);
  });

  test("(b) processing children killed with SIGKILL during a run: nothing lost, held tasks redelivered", {
    timeout: 120_000,
  }, async () => {
    const pipeline = await slowPipeline(300);
    const { queue, vault } = await scenario(200, pipeline);
    const run = await fleet.start(queue.name, { QUEUE_VISIBILITY_TIMEOUT_SECONDS: "3", RESTART_STABLE_SECONDS: "1" });
    await run.waitReady();
    const killed: number[] = [];
    let inFlightAtKills = 0;
    for (let i = 0; i < 4; i++) {
      const victim = await until(
        "a busy processing child",
        async () =>
          (await run.children()).find((c) =>
            c.role === "processing" && c.index === i % 2 && c.alive && c.pid && !killed.includes(c.pid)
          ),
      );
      await sleep(1200);
      inFlightAtKills += killCountingInFlight(victim.pid!, "SIGKILL");
      killed.push(victim.pid!);
    }
    const docs = await finishedExecutions(store, vault, 200, 120_000);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), [], "every task completed");
    const attempts = (await store.db.container(store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items
      .query({
        query: "SELECT VALUE c.attempt FROM c WHERE c.vault_id = @v",
        parameters: [{ name: "@v", value: vault }],
      })
      .fetchAll()).resources as number[];
    assert.ok(attempts.some((a) => a >= 2), "tasks of killed children were delivered again after their hold");
    const givenUp = await holdsGivenUp(run);
    assertSideEffects(
      vault,
      200,
      inFlightAtKills + givenUp,
      `at the 4 kills (${inFlightAtKills}) or in holds given up (${givenUp})`,
    );
    await until("queue empty", async () => (await queueLength(queue)) === 0);
    assert.equal(await poisonCount(queue), 0);
    const kids = await run.children();
    assert.ok(kids.every((c) => c.alive), "killed children were replaced");
    assert.ok(kids.reduce((a, c) => a + c.restarts, 0) >= 4);
    await run.stop();
  });

  test("(c) SIGTERM mid-run: exit within the drain timeout + 2 s, unfinished messages visible at once, no orphans", {
    timeout: 60_000,
  }, async () => {
    const pipeline = await slowPipeline(60_000);
    const { queue } = await scenario(16, pipeline); // 2 workers × PROCESSING_CONCURRENCY 8: all in flight
    const run = await fleet.start(queue.name, {
      SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "3",
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: "300",
    });
    await until(
      "16 tasks in flight",
      async () =>
        (await run.children()).reduce((a, c) => a + c.in_flight, 0) === 16 &&
        (await queue.peekMessages()).peekedMessageItems.length === 0,
    );
    const pids = [run.pid, ...(await run.children()).map((c) => c.pid!).filter(Boolean)];
    const took = await run.stop("SIGTERM");
    assert.ok(took < 5000, `exited ${took.toFixed(0)} ms after SIGTERM (drain 3 s + 2 s)`);
    assert.equal(run.proc.exitCode, 0, "clean exit");
    const visible = await queue.peekMessages({ numberOfMessages: 32 });
    assert.equal(visible.peekedMessageItems.length, 16, "all 16 visible again now, not after the 300 s hold");
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} is gone`);
  });

  test("(c2) Ctrl-C (SIGINT to the process group) mid-run: the workers drain too, messages visible at once", {
    timeout: 60_000,
  }, async () => {
    const pipeline = await slowPipeline(60_000);
    const { queue } = await scenario(16, pipeline);
    const run = await fleet.start(queue.name, {
      SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "3",
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: "300",
    }, { detached: true });
    await until(
      "16 tasks in flight",
      async () => (await inFlight(run)) === 16 && (await queue.peekMessages()).peekedMessageItems.length === 0,
    );
    const pids = [run.pid, ...(await run.children()).map((c) => c.pid!).filter(Boolean)];
    const t0 = performance.now();
    process.kill(-run.pid, "SIGINT"); // as a terminal does on Ctrl-C: supervisor and workers alike
    await until("the supervisor exited", () => run.proc.exitCode !== null || run.proc.signalCode !== null, 10_000);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < 5000, `exited ${elapsed.toFixed(0)} ms after SIGINT (drain 3 s + 2 s)`);
    assert.equal(run.proc.exitCode, 0, "clean exit");
    // The workers drained (a worker ended by the SIGINT itself would show signal "SIGINT"; one that outlives the
    // drain timeout is then SIGKILLed by the supervisor, after releasing its messages).
    const stops = run.lines.filter((l) => l.includes('"msg":"worker stopped"') && l.includes('"exit_code"'))
      .map((l) => JSON.parse(l) as { exit_code: number | null; signal: string | null });
    assert.equal(stops.length, 2);
    assert.ok(stops.every((w) => w.signal !== "SIGINT"), `no worker died of the SIGINT: ${JSON.stringify(stops)}`);
    const visible = await queue.peekMessages({ numberOfMessages: 32 });
    assert.equal(visible.peekedMessageItems.length, 16, "all 16 visible again now, not after the 300 s hold");
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} is gone`);
  });

  test("(d) Azurite stopped for 10 s mid-run: workers back off and recover, nothing lost, no restarts", {
    timeout: 120_000,
  }, async () => {
    // 160 tasks of 500 ms over 16 slots: about 5 s of work, so the outage starts with most of it still to do.
    const pipeline = await slowPipeline(500);
    const { queue, vault } = await scenario(160, pipeline);
    const run = await fleet.start(queue.name, { QUEUE_VISIBILITY_TIMEOUT_SECONDS: "5" });
    const doneAtCut = await until("some tasks done", async () => {
      const done = (await finishedExecutions(store, vault, 0)).filter((d) => d.status === "completed").length;
      return done >= 16 ? done : undefined;
    });
    assert.ok(doneAtCut < 120, `the outage starts mid-run (${doneAtCut} of 160 done)`);
    const inFlightAtCut = await mostInFlight(run);
    await emu.queue.stop("SIGTERM"); // gracefully: a killed Azurite forgets recent messages (its own data loss)
    await sleep(10_000);
    await emu.queue.start();
    const docs = await finishedExecutions(store, vault, 160, 120_000);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), []);
    const givenUp = await holdsGivenUp(run);
    assertSideEffects(
      vault,
      160,
      inFlightAtCut + givenUp,
      `when Azurite stopped (${inFlightAtCut}) or in holds given up (${givenUp})`,
    );
    await until("queue empty", async () => (await queueLength(queue)) === 0, 60_000);
    assert.equal(await poisonCount(queue), 0);
    await until("ready again", async () => (await run.get("/ready")).status === 200);
    const kids = await run.children();
    assert.deepEqual(kids.map((c) => c.restarts), [0, 0], "no worker crashed");
    // A task that completed while its message could not be deleted is not a failed task.
    await sleep(2500); // one heartbeat, so the counters are current
    assert.equal((await run.processingCounters()).tasks_failed_total ?? 0, 0, "no task counted failed");
    await run.stop();
  });

  test("(e) Cosmos DB unreachable for 10 s mid-run, every delivery the last allowed: nothing poisoned, all complete", {
    timeout: 150_000,
  }, async () => {
    // 160 tasks of 1 s over 16 slots: about 10 s of work, so tasks are in flight when Cosmos goes away (a run that
    // finished before the cut would leave the workers idle and never touch Cosmos).
    const pipeline = await slowPipeline(1000);
    const { queue, vault } = await scenario(160, pipeline);
    const proxy = await tcpProxy(Number(new URL(emu.cosmosEndpoint).port));
    try {
      // MAX_TASK_RETRIES=1: every delivery is a task's last; an outage must still not poison it.
      const run = await fleet.start(queue.name, {
        COSMOS_DB_ENDPOINT: `http://127.0.0.1:${proxy.port}/`,
        MAX_TASK_RETRIES: "1",
      });
      const doneAtCut = await until("some tasks done", async () => {
        const done = (await finishedExecutions(store, vault, 0)).filter((d) => d.status === "completed").length;
        return done >= 16 ? done : undefined;
      });
      const inFlightAtCut = await mostInFlight(run);
      proxy.cut();
      assert.ok(doneAtCut < 120, `the outage starts mid-run (${doneAtCut} of 160 done)`);
      await until("workers report cosmos unreachable", async () => (await run.get("/ready")).status === 503, 30_000)
        .catch((err) => {
          throw new Error(`${err.message}\n${run.lines.slice(-25).join("\n")}`);
        });
      // The reason names the service, its endpoint and the kind of failure (src/util/dependency-error.ts).
      const cosmosAt = `Cosmos DB at http://127.0.0.1:${proxy.port}: `;
      const reasons = await until("a reason naming Cosmos DB", async () => {
        const r = (await (await run.get("/ready")).json()).reasons as string[] | undefined;
        return r?.some((x) => x.includes(cosmosAt)) ? r : undefined;
      }, 30_000);
      assert.ok(reasons.some((x) => /: (unreachable|no answer in time)/.test(x)), reasons.join("\n"));
      await sleep(10_000);
      await proxy.restore();
      const docs = await finishedExecutions(store, vault, 160, 120_000);
      assert.deepEqual(
        docs.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.status} (${d.error})`),
        [],
      );
      assertSideEffects(vault, 160, inFlightAtCut, "when Cosmos was cut off");
      await until("queue empty", async () => (await queueLength(queue)) === 0, 60_000);
      assert.equal(await poisonCount(queue), 0);
      await until("ready again", async () => (await run.get("/ready")).status === 200);
      assert.deepEqual((await run.children()).map((c) => c.restarts), [0, 0], "no worker crashed");
      await sleep(2500); // one heartbeat, so the counters are current
      const counters = await run.processingCounters();
      assert.equal(counters.tasks_poisoned_total ?? 0, 0);
      assert.equal(counters.tasks_failed_total ?? 0, 0, "an outage is not a failure of the task");
      await run.stop();
    } finally {
      await proxy.close();
    }
  });

  test("(f) 20 kinds of bad messages and bad pipelines: each poisoned or failed with its reason, workers healthy", {
    timeout: 90_000,
  }, async () => {
    const { queue, vault } = await scenario(0);
    const pipelines = store.db.container(store.config.COSMOS_DB_CONTAINER_PIPELINES);
    const badYaml: Record<string, { yaml?: unknown; reason: RegExp }> = {
      "yaml-syntax": {
        yaml: "pipeline:\n  name: [unclosed\n",
        reason: /cannot be compiled: pipeline YAML does not parse: .* at line 3/,
      },
      "no-pipeline-key": {
        yaml: "name: nothing\n",
        reason: /cannot be compiled: invalid pipeline definition: executors: (is required|.*Expected "executors")/,
      },
      "unknown-type": {
        yaml: pipelineYaml("u", ["{id: x, type: no_such_executor}"]),
        reason: /cannot be compiled: executor 'x': unknown type 'no_such_executor' \(known types: /,
      },
      "cycle": {
        yaml:
          "pipeline:\n  name: c\n  executors:\n    - {id: a, type: pass_through}\n    - {id: b, type: pass_through}\n  edges:\n    - {from: a, to: b}\n    - {from: b, to: a}\n",
        reason: /cannot be compiled: the pipeline has a cycle through: a, b/,
      },
      "self-edge": {
        yaml:
          "pipeline:\n  name: d\n  executors:\n    - {id: a, type: pass_through}\n  edges:\n    - {from: a, to: a}\n",
        reason: /cannot be compiled: edges\[0\] connects executor 'a' to itself/,
      },
      "bad-settings": {
        yaml: pipelineYaml("s", ["{id: chunk, type: recursive_text_chunker, settings: {chunk_size: big}}"]),
        reason:
          /cannot be compiled: executor 'chunk' \(recursive_text_chunker\): invalid settings: chunk_size: chunk_size must be a whole number/,
      },
      "no-executors": {
        yaml: "pipeline:\n  name: e\n  executors: []\n",
        reason: /cannot be compiled: invalid pipeline definition: executors: the pipeline has no executors/,
      },
      "duplicate-ids": {
        yaml: pipelineYaml("dup", ["{id: discover, type: pass_through}"]),
        reason: /cannot be compiled: executor id 'discover' is used more than once/,
      },
      "http-host-not-allowed": {
        yaml: pipelineYaml("h", ["{id: call, type: http, settings: {url: 'http://evil.example.com/x'}}"]),
        reason:
          /cannot be compiled: executor 'call' \(http\): host 'evil\.example\.com' is not in OUTBOUND_ALLOWED_HOSTS/,
      },
      "yaml-not-a-string": {
        yaml: 42,
        reason: /pipeline bad-yaml-not-a-string is malformed: yaml: pipeline\.yaml must be a string/,
      },
    };
    for (const [id, bad] of Object.entries(badYaml)) {
      await pipelines.items.upsert({ id: `bad-${id}`, name: id, yaml: bad.yaml });
    }
    const pipelineTasks = Object.keys(badYaml).map((id, i) => passThroughTask(vault, i, `bad-${id}`));
    await preloadTasks(store, queue, pipelineTasks);

    const good = passThroughTask(vault, 100);
    const payload = good.payload;
    const badMessages: Record<string, { text: string; reason: RegExp }> = {
      "not-json": { text: "hello {", reason: /^message is neither JSON nor base64-encoded JSON$/ },
      "base64-not-json": { text: btoa("not json at all"), reason: /^message is base64 but does not decode to JSON$/ },
      "json-array": { text: "[1,2,3]", reason: /^message JSON is not an object with a task_type$/ },
      "unknown-task-type": {
        text: JSON.stringify({ task_type: "teleport", payload }),
        reason: /^unknown task_type "teleport" \(expected "content_processing"\)$/,
      },
      "no-payload": {
        text: JSON.stringify({ task_type: "content_processing" }),
        reason: /^invalid task message: payload: (is required|.*Expected "payload")/,
      },
      "no-pipeline-id": {
        text: JSON.stringify({ ...good, payload: { ...payload, pipeline_id: undefined, execution_id: "exec_np" } }),
        reason: /^invalid task message: payload\.pipeline_id: /,
      },
      "content-not-list": {
        text: JSON.stringify({ ...good, payload: { ...payload, content: "x", execution_id: "exec_cl" } }),
        reason: /^invalid task message: payload\.content: .*Expected Array/,
      },
      "retry-count-text": {
        text: JSON.stringify({ ...good, payload: { ...payload, retry_count: "two", execution_id: "exec_rc" } }),
        reason: /^invalid task message: payload\.retry_count: .*Expected number/,
      },
      "unknown-pipeline": {
        text: JSON.stringify(passThroughTask(vault, 101, "no-such-pipeline")),
        reason: /^pipeline no-such-pipeline not found$/,
      },
      "claim-check-missing-blob": {
        text: JSON.stringify({
          task_type: "content_processing",
          claim_check: {
            container: "contentflow-claim-checks", // CLAIM_CHECK_CONTAINER_NAME: other containers are refused
            blob: "tasks/task_cc.json",
            task_id: "task_cc",
            execution_id: "exec_cc",
            bytes: 10,
          },
        }),
        reason: /^claim-check blob contentflow-claim-checks\/tasks\/task_cc\.json not found$/,
      },
    };
    for (const bad of Object.values(badMessages)) await queue.sendMessage(bad.text);
    assert.equal(Object.keys(badYaml).length + Object.keys(badMessages).length, 20);

    const run = await fleet.start(queue.name, { HTTP_EXECUTOR_ALLOWED_HOSTS: "127.0.0.1" });
    const poison = namedQueue(emu, `${queue.name}-poison`);
    const peekPoison = async () =>
      (await poison.exists())
        ? (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) =>
          JSON.parse(m.messageText) as { message: string; reason: string; dequeue_count: number }
        )
        : [];
    // Wait for all 20; if some never arrive, the per-kind check below names them.
    await until("20 poison records", async () => (await peekPoison()).length >= 20, 45_000).catch(() => undefined);
    const records = await peekPoison();
    const reasonFor = (text: string) => records.find((r) => r.message === text)?.reason ?? "(not in poison)";
    const problems: string[] = [];
    for (const [kind, bad] of Object.entries(badMessages)) {
      if (!bad.reason.test(reasonFor(bad.text))) problems.push(`${kind}: ${reasonFor(bad.text)}`);
    }
    for (const [i, [kind, bad]] of Object.entries(badYaml).entries()) {
      const text = JSON.stringify(pipelineTasks[i]);
      if (!bad.reason.test(reasonFor(text))) problems.push(`${kind}: ${reasonFor(text)}`);
    }
    assert.deepEqual(problems, [], "each bad input has its own clear reason");
    assert.ok(records.every((r) => r.dequeue_count === 1), "none was retried");
    // The bad pipelines' executions are failed with the same reason.
    const docs = await finishedExecutions(store, vault, Object.keys(badYaml).length);
    for (const [i, [kind, bad]] of Object.entries(badYaml).entries()) {
      const doc = docs.find((d) => d.id === pipelineTasks[i].payload.execution_id);
      assert.equal(doc?.status, "failed", kind);
      assert.match(doc?.error ?? "", bad.reason, kind);
    }
    assert.equal((await run.get("/ready")).status, 200, "workers stay ready");
    assert.deepEqual((await run.children()).map((c) => c.restarts), [0, 0]);
    await until("task queue empty", async () => (await queueLength(queue)) === 0);
    await run.stop();
  });

  test(
    "(g) a crash-looping child: restart delays grow, /ready says degraded, its sibling and the source worker carry on",
    { timeout: 120_000 },
    async () => {
      const pipeline = await slowPipeline(1000);
      const { queue, vault } = await scenario(40, pipeline);
      // A source worker too: the other role must not be touched by the processing role's crash loop.
      const run = await fleet.start(queue.name, {
        RESTART_STABLE_SECONDS: "30",
        QUEUE_VISIBILITY_TIMEOUT_SECONDS: "3",
        NUM_SOURCE_WORKERS: "1",
      });
      await run.waitReady();
      const sourceBefore = (await run.children()).find((c) => c.role === "source")!;
      const delays: number[] = [];
      let killedAt = 0;
      let lastPid = 0;
      for (let i = 0; i < 4; i++) {
        const child = await until(
          "child 0 running",
          async () =>
            (await run.children()).find((c) =>
              c.role === "processing" && c.index === 0 && c.alive && c.pid && c.pid !== lastPid
            ),
        );
        if (killedAt) {
          delays.push(performance.now() - killedAt);
        }
        lastPid = child.pid!;
        process.kill(child.pid!, "SIGKILL");
        killedAt = performance.now();
      }
      const ready = await until("degraded", async () => {
        const r = await run.get("/ready");
        const body = await r.json();
        return r.status === 503 && body.degraded_roles.includes("processing") ? body : undefined;
      }, 20_000);
      assert.equal(ready.status, "degraded");
      assert.deepEqual(ready.degraded_roles, ["processing"], "only the crash-looping role is degraded");
      // Nominal 0.5, 1 and 2 s (±20 % jitter) plus up to ~0.2 s of polling here; a constant delay would give ~1x.
      assert.ok(
        delays[2] > delays[0] * 1.5,
        `restart delays grow: ${delays.map((d) => Math.round(d)).join(", ")} ms`,
      );
      // Meanwhile the other worker went on; every task completes (those of the killed child after their hold).
      // (The source worker's crawls of this vault fail — its blob container does not exist — and record failed
      // executions of their own; only the 40 queued tasks are checked.)
      const docs = await until("the 40 tasks finished", async () => {
        const tasks = (await finishedExecutions(store, vault, 0)).filter((d) => d.id.startsWith(`exec_${vault}-`));
        return tasks.filter((d) => d.status === "completed" || d.status === "failed").length === 40 ? tasks : undefined;
      }, 90_000);
      assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), []);
      const other = (await run.children()).find((c) => c.role === "processing" && c.index === 1)!;
      assert.equal(other.restarts, 0);
      const source = (await run.children()).find((c) => c.role === "source")!;
      assert.equal(source.pid, sourceBefore.pid, "the source worker was never restarted");
      assert.ok(
        source.alive && source.ready && source.restarts === 0,
        `source worker healthy: ${JSON.stringify(source)}`,
      );
      assert.ok(Date.now() - Date.parse(source.last_heartbeat!) < 10_000, "the source worker still reports");
      const byOther = docs.filter((d) => d.processing_worker_id === other.id).length;
      assert.ok(byOther >= 8, `worker 1 completed ${byOther} tasks while worker 0 crash-looped`);
      await run.stop();
    },
  );

  test("(h) a hung processing child (no heartbeats) is killed and replaced; its tasks complete elsewhere", {
    timeout: 90_000,
  }, async () => {
    // SIGSTOP freezes the whole child, as a CPU-bound step blocking its event loop would (no timers, no heartbeats,
    // no hold renewals) — from the compiled binary, with no test hook in it (the unit test uses a real busy loop).
    const pipeline = await slowPipeline(1000);
    const { queue, vault } = await scenario(24, pipeline);
    const run = await fleet.start(queue.name, {
      WORKER_HEARTBEAT_TIMEOUT_SECONDS: "6",
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: "3",
    });
    await run.waitReady();
    // Once calls are going out, child 0's tasks are in their http step (their side effect happened).
    await until("calls under way", () => slow.callsOf(vault).size >= 8);
    const victim = await until(
      "child 0 busy",
      async () => (await run.children()).find((c) => c.role === "processing" && c.index === 0 && c.in_flight > 0),
    );
    const inFlightAtHang = killCountingInFlight(victim.pid!, "SIGSTOP");
    const hungAt = performance.now();
    const replacement = await until(
      "the hung child replaced",
      async () =>
        (await run.children()).find((c) =>
          c.role === "processing" && c.index === 0 && c.alive && c.pid && c.pid !== victim.pid
        ),
      30_000,
    );
    const tookMs = performance.now() - hungAt;
    assert.ok(tookMs >= 5000, `killed after the 6 s heartbeat timeout, not before (${tookMs.toFixed(0)} ms)`);
    assert.ok(tookMs < 15_000, `replaced ${tookMs.toFixed(0)} ms after it hung`);
    assert.equal(alive(victim.pid!), false, "the hung process is gone");
    assert.equal(replacement.heartbeat_kills, 1);
    assert.match(replacement.last_exit?.reason ?? "", /no heartbeat for \d+ s/);
    assert.equal(replacement.last_exit?.signal, "SIGKILL");
    assert.match(
      await (await run.get("/metrics")).text(),
      /contentflow_worker_hung_worker_kills_total\{role="processing"\} 1/,
    );
    assert.ok(run.lines.some((l) => l.includes("worker stopped sending heartbeats")), "logged");
    const docs = await finishedExecutions(store, vault, 24, 60_000);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), []);
    const givenUp = await holdsGivenUp(run);
    assertSideEffects(
      vault,
      24,
      inFlightAtHang + givenUp,
      `in the hung child (${inFlightAtHang}) or in holds given up (${givenUp})`,
    );
    const sibling = (await run.children()).find((c) => c.role === "processing" && c.index === 1)!;
    assert.equal(sibling.heartbeat_kills + sibling.restarts, 0, "the healthy sibling was left alone");
    await run.stop();
  });

  test("(i) supervisor SIGKILLed mid-run: its workers drain and exit by themselves, no orphan keeps processing", {
    timeout: 90_000,
  }, async () => {
    const pipeline = await slowPipeline(500);
    const { queue, vault } = await scenario(64, pipeline);
    const run = await fleet.start(queue.name, { SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "3" });
    await until("some tasks done", async () => {
      const done = (await finishedExecutions(store, vault, 0)).filter((d) => d.status === "completed").length;
      return done >= 16 ? done : undefined;
    });
    const kids = (await run.children()).map((c) => c.pid!).filter(Boolean);
    const inFlightAtKill = await mostInFlight(run);
    await run.stop("SIGKILL");
    const t0 = performance.now();
    await until("every orphaned worker exited", () => kids.every((pid) => !alive(pid)), 15_000);
    const goneMs = performance.now() - t0;
    // Drain 3 s, then release and exit; a loaded CI machine needs some seconds more.
    assert.ok(goneMs < 8000, `orphans gone ${goneMs.toFixed(0)} ms after the supervisor died (drain 3 s)`);
    const callsAtExit = slow.requests();
    const doneAtExit = (await executionsOfVault(store, vault)).filter((d) => d.status === "completed").length;
    assert.ok(doneAtExit < 64, `work was left to do (${doneAtExit} of 64 done)`);
    await sleep(2000);
    assert.equal(slow.requests(), callsAtExit, "nothing called the service after the workers exited");
    // A new supervisor finishes the rest; what the orphans had started and released is done again at most once.
    const next = await fleet.start(queue.name);
    const docs = await finishedExecutions(store, vault, 64, 60_000);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), []);
    assertSideEffects(vault, 64, inFlightAtKill, "when the supervisor was killed");
    await next.stop();
  });

  test(
    "(j) hold lost while a task runs (its worker cannot reach the queue): it gives the task up in time; the next delivery's run is the one recorded",
    {
      timeout: 90_000,
    },
    async () => {
      // Tasks of 8 s: A cannot finish one before it must give its messages up (at most 4 s after the cut).
      const pipeline = await slowPipeline(8000);
      const { queue, vault } = await scenario(8, pipeline);
      // Supervisor A reaches the queue through a proxy that is cut mid-task: its renewals fail from then on.
      const queuePort = Number(/QueueEndpoint=http:\/\/127\.0\.0\.1:(\d+)/.exec(emu.queueConnectionString)![1]);
      const proxy = await tcpProxy(queuePort);
      try {
        const viaProxy = emu.queueConnectionString.replace(`127.0.0.1:${queuePort}`, `127.0.0.1:${proxy.port}`);
        const hold = { QUEUE_VISIBILITY_TIMEOUT_SECONDS: "5" };
        const a = await fleet.start(queue.name, { ...hold, STORAGE_QUEUE_CONNECTION_STRING: viaProxy });
        await until("A runs all 8 tasks", async () => (await inFlight(a)) === 8 && slow.callsOf(vault).size === 8);
        const inFlightAtCut = await inFlight(a);
        proxy.cut();
        // B takes the tasks once their holds have run out.
        const b = await fleet.start(queue.name, hold);
        const bName = b.lines.map((l) => /"worker":"(fault-[^"]+)"/.exec(l)?.[1]).find(Boolean)!;
        const docs = await finishedExecutions(store, vault, 8, 60_000);
        assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => d.id), []);
        assert.deepEqual(
          docs.filter((d) => !d.processing_worker_id?.startsWith(`${bName}-`)).map((d) => d.processing_worker_id),
          [],
          "every record was completed by B's run, none by A after its hold ran out",
        );
        await proxy.restore();
        const givenUpByB = await holdsGivenUp(b);
        const countersA = await a.processingCounters();
        assertSideEffects(
          vault,
          8,
          inFlightAtCut + givenUpByB,
          `when A lost the queue (${inFlightAtCut}) or in holds B gave up (${givenUpByB})`,
        );
        assert.equal(countersA.leases_expired_total, 8, `A gave up its 8 holds: ${JSON.stringify(countersA)}`);
        assert.equal(countersA.tasks_processed_total ?? 0, 0, "A completed nothing");
        assert.equal(countersA.tasks_failed_total ?? 0, 0, "a lost hold is not a failure of the task");
        await until("queue empty", async () => (await queueLength(queue)) === 0);
        assert.equal(await poisonCount(queue), 0);
        await Promise.all([a.stop(), b.stop()]);
      } finally {
        await proxy.close();
      }
    },
  );
});
