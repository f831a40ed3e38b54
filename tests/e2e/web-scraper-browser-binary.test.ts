// web_scraper render_js: true through the compiled binary, copied alone into an empty folder (no node_modules next
// to it: playwright-core must be inside the binary): `pipeline run` renders a local page whose text is written by
// JavaScript in Debian's chromium, a request of that page to a host the outbound policy refuses never arrives, a
// screenshot comes back as base64, and `pipeline check` with BROWSER_EXECUTABLE_PATH naming a missing file warns
// that the page will be fetched without a browser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { basicEnv, ensureBinary, startBinary } from "../helpers/binary.ts";
import { CHROMIUM, chromiumSkipReason } from "../helpers/chromium.ts";

const skip = chromiumSkipReason();

let dir = "";
let binary = "";
let site: Server;
let other: Server;
let base = "";
const otherHits: string[] = [];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const addr = server.address();
  return typeof addr === "object" && addr ? addr.port : 0;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "cfw-browser-e2e-"));
  binary = join(dir, "contentflow-worker");
  copyFileSync(ensureBinary(), binary);
  other = createServer((req, res) => {
    otherHits.push(req.url ?? "");
    res.end("reached");
  });
  const otherPort = await listen(other);
  site = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html><head><title>served</title></head><body><h1 id="h">served text</h1>
      <p id="call">not called</p>
      <script>
        document.title = "rendered by JS";
        document.getElementById("h").textContent = "written by JavaScript";
        fetch("http://localhost:${otherPort}/beacon").then(() => "reached", () => "refused")
          .then((r) => { document.getElementById("call").textContent = r; });
      </script></body></html>`);
  });
  base = `http://127.0.0.1:${await listen(site)}`;
  writeFileSync(
    join(dir, "scrape.yaml"),
    `pipeline:
  name: scrape
  executors:
    - id: scrape
      type: web_scraper
      settings:
        render_js: true
        wait_for_selector: "#h"
        selectors: { heading: "#h", call: "#call" }
        screenshot_enabled: true
`,
  );
  writeFileSync(
    join(dir, "items.json"),
    JSON.stringify([{ id: { canonical_id: "page", unique_id: "page-1" }, data: { url: `${base}/` } }]),
  );
});

after(() => {
  site?.close();
  other?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({
  ...basicEnv(),
  LOG_LEVEL: "warning",
  OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
  ...extra,
});

describe("web_scraper render_js: true in the compiled binary", { skip }, () => {
  test("pipeline run renders the page in Chromium; the refused host is never called", async () => {
    const run = await startBinary(binary, ["pipeline", "run", "scrape.yaml", "--items", "items.json", "--json"], {
      cwd: dir,
      env: env({ BROWSER_EXECUTABLE_PATH: CHROMIUM }),
      timeoutMs: 120_000,
    }).finished;
    assert.equal(run.code, 0, run.output);
    const result = JSON.parse(run.stdout);
    assert.equal(result.status, "completed", run.output);
    const out = result.items[0].data.web_scraping_output;
    assert.equal(out.title, "rendered by JS");
    assert.deepEqual(out.extracted_fields, { heading: "written by JavaScript", call: "refused" });
    assert.deepEqual(
      [...Buffer.from(out.screenshot_base64, "base64").subarray(0, 4)],
      [0x89, 0x50, 0x4e, 0x47],
    );
    assert.deepEqual(otherHits, []);
    assert.match(JSON.stringify(result.items[0].executor_logs), /outbound policy refused.*localhost/);
  });

  test("without a browser: pipeline check warns, pipeline run fetches the page as served", async () => {
    const noBrowser = env({ BROWSER_EXECUTABLE_PATH: join(dir, "no-chromium") });
    const check = await startBinary(binary, ["pipeline", "check", "scrape.yaml"], { cwd: dir, env: noBrowser })
      .finished;
    assert.match(check.output, /render_js: true runs as a plain fetch.*BROWSER_EXECUTABLE_PATH '.*no-chromium' does/);
    const run = await startBinary(binary, ["pipeline", "run", "scrape.yaml", "--items", "items.json", "--json"], {
      cwd: dir,
      env: noBrowser,
    }).finished;
    assert.equal(run.code, 0, run.output);
    const item = JSON.parse(run.stdout).items[0];
    assert.deepEqual(item.data.web_scraping_output.extracted_fields, { heading: "served text", call: "not called" });
    assert.equal(item.data.web_scraping_output.screenshot_base64, undefined);
    assert.match(JSON.stringify(item.executor_logs), /render_js: true runs as a plain fetch/);
  });
});
