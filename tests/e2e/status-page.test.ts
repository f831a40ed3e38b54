// The status page at `/` in a real headless browser (Debian's chromium), served by the compiled binary: the live
// numbers (tasks completed, queue and poison depth, the workers table, a recent failure) match what the supervisor
// did, and a crash-looping role shows as degraded.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { join } from "node:path";
import { parseHTML } from "linkedom";
import {
  createVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
  upsertPipeline,
} from "../helpers/seeded-store.ts";
import { chromiumSkipReason, dumpDom } from "../helpers/chromium.ts";
import type { BinaryRun } from "../helpers/binary-run.ts";
import {
  type E2eFleetEnv,
  e2eFleetEnv,
  finishedExecutions,
  pipelineYaml,
  uniqueName,
  until,
} from "../helpers/e2e-kit.ts";

const skip = chromiumSkipReason();

/**
 * The page as chromium rendered it, parsed for querying. With STATUS_PAGE_SCREENSHOT=<dir> a screenshot of each
 * page loaded is written there too, to look at.
 */
async function loadPage(run: BinaryRun, name: string): Promise<Document> {
  const url = `http://127.0.0.1:${run.port}/`;
  const html = await dumpDom(url);
  const shots = process.env.STATUS_PAGE_SCREENSHOT;
  if (shots) await dumpDom(url, { screenshot: join(shots, `${name}.png`) });
  return parseHTML(html).document as unknown as Document;
}

const text = (doc: Document, selector: string): string => {
  const el = doc.querySelector(selector);
  assert.ok(el, `${selector} is on the page`);
  return (el.textContent ?? "").trim();
};

describe("status page in a headless browser (compiled binary)", { skip }, () => {
  let e: E2eFleetEnv;

  before(async () => {
    e = await e2eFleetEnv();
  });

  after(async () => {
    await e?.stop();
  });

  async function httpPipeline(ms: number): Promise<string> {
    const id = uniqueName(`page-${ms}`);
    const step =
      `{id: call, type: http, settings: {url: "http://127.0.0.1:${e.slow.port}/slow?ms=${ms}", max_retries: 0}}`;
    await upsertPipeline(e.store, id, pipelineYaml(id, [step]));
    return id;
  }

  test("shows the tasks completed, queue and poison depth, the workers and a recent failure", {
    timeout: 180_000,
  }, async () => {
    const pipeline = await httpPipeline(5);
    const queue = namedQueue(e.emu, uniqueName("page-q"));
    await queue.create();
    const vault = uniqueName("page-v");
    await createVault(e.store, vault);
    const n = 12;
    const missing = uniqueName("missing-pipeline");
    await preloadTasks(e.store, queue, [
      ...Array.from({ length: n }, (_, i) => passThroughTask(vault, i, pipeline)),
      passThroughTask(vault, 99, missing),
    ]);
    const run = await e.fleet.start(queue.name, {
      NUM_PROCESSING_WORKERS: "2",
      QUEUE_METRICS_INTERVAL_SECONDS: "1",
      OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
    });
    await finishedExecutions(e.store, vault, n);
    // The supervisor's own numbers once everything settled: all tasks counted, the backlog sampled empty.
    const status = await until("counters and backlog settled", async () => {
      const s = await (await run.get("/status")).json();
      const done = s.counters?.processing?.tasks_processed_total === n;
      const sampled = s.backlog?.task_queue.messages === 0 && s.backlog?.poison_queue.messages === 1;
      return done && sampled ? s : undefined;
    }, 60_000);
    assert.equal(await queueLength(queue), 0);

    const doc = await loadPage(run, "running");
    assert.equal(text(doc, "#tasks-processed"), String(n), "tasks completed as the supervisor counted them");
    assert.equal(text(doc, "#tasks-poisoned"), "1");
    assert.equal(text(doc, "#queue-depth"), "0");
    assert.equal(text(doc, "#poison-depth"), "1");
    assert.equal(text(doc, "#overall"), "running");
    assert.match(doc.title, /contentflow-worker/);
    const rows = [...doc.querySelectorAll("#workers tr.worker")];
    const processing = rows.filter((r) => r.getAttribute("data-role") === "processing");
    assert.equal(processing.length, 2, "one row per processing worker");
    const pids = (status.workers.processing.workers as Array<{ pid: number }>).map((w) => String(w.pid)).sort();
    assert.deepEqual(processing.map((r) => r.querySelectorAll("td")[1].textContent?.trim()).sort(), pids);
    for (const r of processing) {
      assert.equal(r.querySelector("td.state")?.textContent?.trim(), "ready");
      assert.equal(r.querySelector("td.restarts")?.textContent?.trim(), "0");
    }
    const failures = [...doc.querySelectorAll("#failures tr.failure")].map((r) => r.textContent ?? "");
    assert.ok(failures.some((f) => f.includes(missing)), `the poisoned task is a recent failure: ${failures}`);
    assert.equal(doc.querySelectorAll("script").length, 0, "no script on the page");
    await run.stop();
  });

  test("a crash-looping processing role is shown as degraded", { timeout: 180_000 }, async () => {
    const queue = namedQueue(e.emu, uniqueName("page-crash-q"));
    await queue.create();
    // A role stays degraded while its restarted child is younger than the stable time: long enough here for a
    // browser to load the page on a busy machine.
    const run = await e.fleet.start(queue.name, { RESTART_STABLE_SECONDS: "120", NUM_PROCESSING_WORKERS: "2" });
    await run.waitReady();
    let lastPid = 0;
    for (let i = 0; i < 4; i++) {
      const child = await until(
        "child 0 running",
        async () =>
          (await run.children()).find((c) =>
            c.role === "processing" && c.index === 0 && c.alive && c.pid && c.pid !== lastPid
          ),
      );
      lastPid = child.pid!;
      process.kill(child.pid!, "SIGKILL");
    }
    await until("degraded", async () => {
      const r = await run.get("/ready");
      const body = await r.json();
      return r.status === 503 && body.degraded_roles.includes("processing") ? body : undefined;
    }, 20_000);

    const doc = await loadPage(run, "degraded");
    assert.equal(text(doc, "#overall"), "degraded");
    const role = doc.querySelector('h3.role[data-role="processing"]');
    assert.ok(role?.classList.contains("degraded"), "the processing role heading is marked degraded");
    assert.match(role?.textContent ?? "", /degraded: crash-looping/);
    const source = doc.querySelector('h3.role[data-role="source"]');
    assert.ok(source && !source.classList.contains("degraded"), "the other role is not");
    assert.match(source.textContent ?? "", /source: not configured/);
    const row = doc.querySelector('#workers tr.worker[data-role="processing"][data-index="0"]');
    assert.ok(row, "processing-0 has a row");
    assert.ok(Number(row.querySelector("td.restarts")?.textContent) >= 3, `restarts: ${row.textContent}`);
    assert.match(text(doc, "#reasons"), /processing/);
    const sibling = doc.querySelector('#workers tr.worker[data-role="processing"][data-index="1"]');
    assert.equal(sibling?.querySelector("td.restarts")?.textContent?.trim(), "0");
    await run.stop();
  });
});
