// `/` is the reference Container App's liveness probe path: open JSON with the Python worker's fields for clients
// that do not ask for HTML (also while App Configuration cannot be read), the status page behind the token for
// browsers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createApi, createStartingApi, wantsHtml } from "../../src/api/app.ts";
import type { Supervisor } from "../../src/supervisor/supervisor.ts";

const supervisor = {
  draining: false,
  startedAt: Date.now(),
  snapshot: () => [],
  configured: () => 0,
  counterTotals: () => ({ processing: {}, source: {} }),
} as unknown as Supervisor;

const BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";

describe("/ for probes and browsers", () => {
  test("wantsHtml: browsers yes; no header, */*, JSON first or text/html refused (q=0) no", () => {
    assert.equal(wantsHtml(BROWSER), true);
    assert.equal(wantsHtml("text/*"), true);
    assert.equal(wantsHtml(undefined), false);
    assert.equal(wantsHtml(""), false);
    assert.equal(wantsHtml("*/*"), false);
    assert.equal(wantsHtml("application/json"), false);
    assert.equal(wantsHtml("application/json, text/html;q=0.5"), false);
    assert.equal(wantsHtml("text/html;q=0, */*"), false);
    assert.equal(wantsHtml("text/html;q=abc"), false);
    assert.equal(wantsHtml("text/html;level=1;q=0.7, application/json;q=0.6"), true);
  });

  test("with API_TOKEN set, / answers the Python worker's open JSON to a probe and keeps the page behind the token", async () => {
    const api = createApi({ supervisor, workerName: "vm-1", version: "1.2.3", apiToken: "s3cret-token" });
    const probes: Record<string, string>[] = [{}, { accept: "*/*" }, { accept: "application/json, text/html;q=0.5" }];
    for (const headers of probes) {
      const res = await api.request("/", { headers });
      assert.equal(res.status, 200, JSON.stringify(headers));
      const body = await res.json();
      assert.equal(body.service, "contentflow-worker");
      assert.equal(body.version, "1.2.3");
      assert.equal(body.worker_name, "vm-1");
    }
    assert.equal((await api.request("/", { headers: { accept: BROWSER } })).status, 401);
    assert.equal((await api.request("/", { headers: { accept: "text/html;q=0, */*" } })).status, 200);
    const page = await api.request("/", { headers: { accept: BROWSER, authorization: "Bearer s3cret-token" } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  });

  test("while App Configuration cannot be read, / answers 200 (liveness) with the reason, /ready 503", async () => {
    const api = createStartingApi({
      workerName: "vm-1",
      version: "1.2.3",
      startedAt: Date.now(),
      reason: () => "App Configuration cannot be read",
    });
    const res = await api.request("/");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual([body.service, body.version, body.worker_name, body.status], [
      "contentflow-worker",
      "1.2.3",
      "vm-1",
      "starting",
    ]);
    assert.deepEqual(body.reasons, ["App Configuration cannot be read"]);
    assert.equal((await api.request("/ready")).status, 503);
  });
});
