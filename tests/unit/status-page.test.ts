// The status page's HTML on its own: everything that comes from workers or tasks is escaped, the numbers and the
// degraded role are where the page's ids say, and an unconfigured role says so.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseHTML } from "linkedom";
import { escapeHtml, renderStatusPage, type StatusPageInput } from "../../src/api/status-page.ts";
import type { ChildSnapshot } from "../../src/supervisor/supervisor.ts";

function worker(index: number, over: Partial<ChildSnapshot> = {}): ChildSnapshot {
  return {
    role: "processing",
    index,
    id: `w-processing-${index}`,
    pid: 1000 + index,
    alive: true,
    ready: true,
    restarts: 0,
    consecutive_crashes: 0,
    degraded: false,
    uptime_seconds: 42,
    in_flight: 1,
    last_heartbeat: null,
    last_exit: null,
    heartbeat_kills: 0,
    next_restart_in_ms: null,
    info: {},
    ...over,
  };
}

function input(over: Partial<StatusPageInput> = {}): StatusPageInput {
  return {
    workerName: "vm-1",
    version: "1.2.3",
    uptimeSeconds: 90,
    state: "running",
    ready: true,
    reasons: [],
    roles: [
      { role: "processing", configured: 2, degraded: false, workers: [worker(0), worker(1)] },
      { role: "source", configured: 0, degraded: false, workers: [] },
    ],
    counters: { processing: { tasks_processed_total: 17, tasks_failed_total: 2, tasks_poisoned_total: 1 } },
    backlog: {
      at: 0,
      taskQueue: { name: "q", messages: 5, oldestAgeSeconds: 30 },
      poisonQueue: { name: "q-poison", messages: 1 },
    },
    history: [],
    failures: [],
    refreshSeconds: 5,
    ...over,
  };
}

const page = (over: Partial<StatusPageInput> = {}) => parseHTML(renderStatusPage(input(over))).document;

describe("status page HTML", () => {
  test("escapeHtml escapes the five HTML special characters and stringifies the rest", () => {
    assert.equal(
      escapeHtml(`<a href="x" onclick='y'>&</a>`),
      "&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#60;/a&#62;",
    );
    assert.equal(escapeHtml(undefined), "");
    assert.equal(escapeHtml(12), "12");
  });

  test("a worker's failure message and reason are shown as text, never as markup", () => {
    const html = renderStatusPage(input({
      workerName: "<b>vm</b>",
      reasons: ["processing-0 is not ready: <img src=x onerror=alert(1)>"],
      failures: [{
        time: "2026-01-01T00:00:00.000Z",
        role: "processing",
        index: 0,
        message: "task failed: <script>alert('x')</script>",
        reason: `item "<i>a</i>" & more`,
        task_id: null,
        execution_id: "exec_<1>",
        pipeline_id: "p",
      }],
    }));
    assert.ok(!html.includes("<script>"), "no script element from a message");
    assert.ok(!html.includes("<img"), "no img element from a reason");
    assert.ok(!html.includes("<b>vm</b>"));
    const doc = parseHTML(html).document;
    assert.equal(doc.querySelectorAll("script, img, i").length, 0);
    const row = doc.querySelector("#failures tr.failure")!;
    assert.match(row.textContent!, /task failed: <script>alert\('x'\)<\/script>/, "shown as the text it was");
    assert.match(row.textContent!, /item "<i>a<\/i>" & more/);
    assert.match(doc.querySelector("#reasons")!.textContent!, /<img src=x onerror=alert\(1\)>/);
  });

  test("the numbers, the workers and an unconfigured role", () => {
    const doc = page();
    assert.equal(doc.querySelector("#tasks-processed")!.textContent, "17");
    assert.equal(doc.querySelector("#tasks-failed")!.textContent, "2");
    assert.equal(doc.querySelector("#queue-depth")!.textContent, "5");
    assert.equal(doc.querySelector("#poison-depth")!.textContent, "1");
    assert.equal(doc.querySelector("#overall")!.textContent, "running");
    assert.equal(doc.querySelectorAll("#workers tr.worker").length, 2);
    assert.match(doc.querySelector('h3.role[data-role="processing"]')!.textContent!, /2 of 2 running/);
    assert.match(doc.querySelector('h3.role[data-role="source"]')!.textContent!, /source: not configured/);
    assert.equal(doc.querySelector("#queue-oldest")!.textContent, "30 s");
  });

  test("a degraded role and a worker that is down", () => {
    const doc = page({
      state: "degraded",
      ready: false,
      reasons: ["processing workers are crash-looping"],
      roles: [{
        role: "processing",
        configured: 2,
        degraded: true,
        workers: [
          worker(0, {
            alive: false,
            pid: null,
            restarts: 4,
            next_restart_in_ms: 1500,
            last_exit: { code: null, signal: "SIGKILL", at: "" },
          }),
          worker(1),
        ],
      }],
      backlog: undefined,
    });
    assert.equal(doc.querySelector("#overall")!.textContent, "degraded");
    const role = doc.querySelector('h3.role[data-role="processing"]')!;
    assert.ok(role.classList.contains("degraded"));
    assert.match(role.textContent!, /1 of 2 running degraded: crash-looping/);
    const down = doc.querySelector('#workers tr.worker[data-index="0"]')!;
    assert.ok(down.classList.contains("down"));
    assert.match(down.textContent!, /SIGKILL/);
    assert.match(down.textContent!, /restart in 2 s/);
    assert.equal(doc.querySelector("#queue-depth")!.textContent, "-", "no backlog sample yet");
  });
});
