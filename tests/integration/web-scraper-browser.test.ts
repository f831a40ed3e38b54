// web_scraper with render_js: true in the worker's headless Chromium (Debian's chromium, as the status page test
// uses): a page whose text is written by its JavaScript, a page that calls a host the outbound policy refuses (the
// call never reaches that host), screenshots, the page limits, one browser reused across runs with a bounded number
// of pages, and the fallback to a plain fetch with a warning when BROWSER_EXECUTABLE_PATH names a missing file.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { compilePipeline, createExecutor, defaultRegistry, parsePipelineYaml } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { Config } from "../../src/config/schema.ts";
import type { ExecutorInstance, ExecutorRunContext } from "../../src/executors/types.ts";
import { browserExecutable, BrowserPool, closeSharedBrowser, sharedBrowser } from "../../src/executors/browser.ts";
import { makeOutboundPolicy } from "../../src/net/outbound.ts";
import { CHROMIUM, chromiumSkipReason } from "../helpers/chromium.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
const skip = chromiumSkipReason();

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback HTTP server with its own routes and the paths it was asked for. */
async function serve(
  routes: Map<string, Handler>,
): Promise<{ server: Server; base: string; hits: string[]; connections: { count: number } }> {
  const hits: string[] = [];
  const connections = { count: 0 };
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    hits.push(path);
    const handler = routes.get(path);
    if (!handler) return void res.writeHead(404, { "content-type": "text/html" }).end("<p>missing</p>");
    handler(req, res);
  });
  server.on("connection", () => connections.count++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const addr = server.address();
  return { server, base: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`, hits, connections };
}

const page = (body: string, head = "") => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html><head><title>Static</title>${head}</head><body>${body}</body></html>`);
};

let site: Awaited<ReturnType<typeof serve>>;
/** A second listener on "localhost", which the policy below does NOT allow (only 127.0.0.1 is). */
let refusedSite: Awaited<ReturnType<typeof serve>>;
let config: Config;

function ctx(): ExecutorRunContext {
  return { executorId: "scrape", pipelineName: "p", signal: new AbortController().signal, logger };
}

function scrapeExecutor(settings: Record<string, unknown>, cfg: Config = config): ExecutorInstance {
  return createExecutor({ id: "scrape", type: "web_scraper", settings }, registry, { config: cfg, logger });
}

async function scrape(settings: Record<string, unknown>, cfg: Config = config): Promise<Content[]> {
  return await scrapeExecutor(settings, cfg).process([], ctx());
}

function output(item: Content): Record<string, unknown> {
  return item.data?.web_scraping_output as Record<string, unknown>;
}

before(async () => {
  refusedSite = await serve(new Map([["/beacon", page("<p>beacon</p>")]]));
  const refusedBase = refusedSite.base.replace("127.0.0.1", "localhost");
  site = await serve(
    new Map<string, Handler>([
      [
        "/js",
        page(
          `<h1 id="h">server text</h1><div id="late"></div>
           <script>
             document.title = "Written by JS";
             document.getElementById("h").textContent = "rendered heading";
             setTimeout(() => { const p = document.createElement("p"); p.className = "late";
               p.textContent = "late paragraph"; document.getElementById("late").appendChild(p); }, 200);
           </script>`,
        ),
      ],
      [
        "/calls-out",
        page(
          `<p id="r">waiting</p><img src="${refusedBase}/beacon?img=1"><img src="/redirect-out?img=1">
           <iframe src="${refusedBase}/beacon?iframe=1"></iframe><link rel="preconnect" href="${refusedBase}">
           <link rel="prefetch" href="${refusedBase}/beacon?prefetch=1">
           <script>
             fetch("${refusedBase}/beacon?fetch=1").then(() => "reached", () => "refused")
               .then((r) => { document.getElementById("r").textContent = r; });
           </script>`,
        ),
      ],
      ["/big", page(`<script>document.body.textContent = "x".repeat(300000);</script>`)],
      ["/slow", page(`<img src="/hang">`)],
      ["/hang", () => {/* never answers */}],
      ["/redirect-in", (_req, res) => void res.writeHead(301, { location: "/js" }).end()],
      ["/redirect-out", (_req, res) => void res.writeHead(302, { location: `${refusedBase}/beacon?redirect=1` }).end()],
    ]),
  );
  config = (await loadConfig({
    env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1", BROWSER_EXECUTABLE_PATH: CHROMIUM },
    dotenvPath: false,
  })).config;
});

after(async () => {
  await closeSharedBrowser();
  site?.server.closeAllConnections();
  site?.server.close();
  refusedSite?.server.close();
});

describe("web_scraper render_js: true in Chromium", { skip }, () => {
  test("the page's JavaScript runs: title, fields and wait_for_selector see what it wrote", async () => {
    const [item] = await scrape({
      start_urls: `${site.base}/js`,
      render_js: true,
      wait_for_selector: "p.late",
      selectors: { heading: "#h", late: ".late" },
    });
    const out = output(item);
    assert.equal(out.title, "Written by JS");
    assert.deepEqual(out.extracted_fields, { heading: "rendered heading", late: "late paragraph" });
    assert.deepEqual(item.executor_logs, []);
  });

  test("the same page fetched without render_js keeps the served text", async () => {
    const [item] = await scrape({ start_urls: `${site.base}/js`, render_js: false, selectors: { heading: "#h" } });
    assert.equal(output(item).title, "Static");
    assert.deepEqual(output(item).extracted_fields, { heading: "server text" });
  });

  test("requests of the page to a host the policy refuses are aborted; not even a connection arrives", async () => {
    refusedSite.hits.length = 0;
    refusedSite.connections.count = 0;
    const [item] = await scrape({ start_urls: `${site.base}/calls-out`, render_js: true, selectors: { r: "#r" } });
    assert.deepEqual(output(item).extracted_fields, { r: "refused" });
    assert.deepEqual(refusedSite.hits, []);
    // Not even a bare connection (Chromium's preconnect would open one without a request).
    assert.equal(refusedSite.connections.count, 0);
    const warnings = (item.executor_logs?.[0]?.details as { warnings: string[] }).warnings;
    assert.match(warnings.join("\n"), /outbound policy refused.*localhost:\d+\/beacon.*OUTBOUND_ALLOWED_PRIVATE_HOSTS/);
  });

  test("a start page redirected to a refused host fails, and the redirect target is not called", async () => {
    refusedSite.hits.length = 0;
    await assert.rejects(
      scrape({ start_urls: `${site.base}/redirect-out`, render_js: true }),
      (err: Error) => /executor 'scrape': .*redirect-out: cannot load the page: .*outbound policy/.test(err.message),
    );
    assert.deepEqual(refusedSite.hits, []);
  });

  test("a start page redirected to an allowed page is rendered at its new URL", async () => {
    const [item] = await scrape({ start_urls: `${site.base}/redirect-in`, render_js: true, follow_links: true });
    assert.equal(output(item).title, "Written by JS");
    assert.equal(output(item).url, `${site.base}/redirect-in`);
  });

  test("a start URL on a refused host is refused before the browser is used", () => {
    assert.throws(
      () => scrapeExecutor({ start_urls: "http://10.1.2.3/", render_js: true }),
      /start_urls: http:\/\/10\.1\.2\.3\/: .*refused/,
    );
  });

  test("screenshots: base64 PNG of the page, JPEG of an element", async () => {
    const [png] = await scrape({ start_urls: `${site.base}/js`, render_js: true, screenshot_enabled: true });
    const bytes = Buffer.from(output(png).screenshot_base64 as string, "base64");
    assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const [jpeg] = await scrape({
      start_urls: `${site.base}/js`,
      render_js: true,
      screenshot_enabled: true,
      screenshot_selector: "#h",
      screenshot_type: "jpeg",
      screenshot_quality: 50,
    });
    const jbytes = Buffer.from(output(jpeg).screenshot_base64 as string, "base64");
    assert.deepEqual([...jbytes.subarray(0, 2)], [0xff, 0xd8]);
    const [none] = await scrape({ start_urls: `${site.base}/js`, render_js: true });
    assert.equal(output(none).screenshot_base64, undefined);
  });

  test("the rendered HTML has a size limit and the page a time limit", async () => {
    await assert.rejects(
      scrape({ start_urls: `${site.base}/big`, render_js: true, max_page_bytes: 100_000 }),
      /big: the rendered page is \d+ bytes, more than max_page_bytes \(100000\)/,
    );
    await assert.rejects(
      scrape({ start_urls: `${site.base}/slow`, render_js: true, request_timeout_secs: 1 }),
      /slow: .*(page not rendered within 1 s|Timeout 1000ms exceeded)/,
    );
  });

  test("one browser per process, reused; at most BROWSER_MAX_PAGES pages open at once", async () => {
    const pool = sharedBrowser(config, logger)!;
    assert.equal(sharedBrowser(config, logger), pool);
    const policy = makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["127.0.0.1"] });
    const limited = new BrowserPool(CHROMIUM, 2);
    try {
      let most = 0;
      const renders = Array.from({ length: 5 }, async () => {
        const r = await limited.render({
          url: `${site.base}/js`,
          policy,
          timeoutMs: 30_000,
          maxHtmlBytes: 1_000_000,
          maxHtmlSetting: "x",
          maxResponseBytes: 1_000_000,
          signal: new AbortController().signal,
          onWarning: () => undefined,
        });
        most = Math.max(most, limited.pagesOpen);
        return r;
      });
      const pollOpen = setInterval(() => (most = Math.max(most, limited.pagesOpen)), 5);
      const pages = await Promise.all(renders);
      clearInterval(pollOpen);
      assert.equal(pages.length, 5);
      assert.ok(pages.every((p) => p.html.includes("rendered heading")));
      assert.ok(most <= 2, `at most 2 pages open, saw ${most}`);
    } finally {
      await limited.close();
    }
    await assert.rejects(
      limited.render({
        url: `${site.base}/js`,
        policy,
        timeoutMs: 5_000,
        maxHtmlBytes: 1_000_000,
        maxHtmlSetting: "x",
        maxResponseBytes: 1_000_000,
        signal: new AbortController().signal,
      }),
      /the browser is closed/,
    );
  });
});

describe("web_scraper render_js: true without a browser", () => {
  test("BROWSER_EXECUTABLE_PATH naming a missing file: plain fetch, warning at compile time and on the item", async () => {
    const cfg = (await loadConfig({
      env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1", BROWSER_EXECUTABLE_PATH: "/nonexistent/chromium" },
      dotenvPath: false,
    })).config;
    const exec = scrapeExecutor({ start_urls: `${site.base}/js`, render_js: true, selectors: { heading: "#h" } }, cfg);
    const expected =
      /render_js: true runs as a plain fetch .*BROWSER_EXECUTABLE_PATH '\/nonexistent\/chromium' does not exist/;
    assert.match((exec.compileWarnings ?? []).join("\n"), expected);
    const [item] = await exec.process([], ctx());
    assert.deepEqual(output(item).extracted_fields, { heading: "server text" });
    const entry = item.executor_logs?.[0];
    assert.equal(entry?.executor_id, "scrape");
    assert.match((entry?.details as { warnings: string[] }).warnings.join("\n"), expected);

    const yaml = `pipeline:
  name: p
  executors:
    - id: scrape
      type: web_scraper
      settings:
        start_urls: ${site.base}/js
        render_js: true
`;
    const compiled = compilePipeline(parsePipelineYaml(yaml), { registry, deps: { config: cfg, logger } });
    assert.match(
      compiled.warnings.join("\n"),
      /executor 'scrape' \(web_scraper\): render_js: true runs as a plain fetch/,
    );
    await compiled.close();
  });

  test("BROWSER_EXECUTABLE_PATH: auto finds the first installed browser, empty means none", () => {
    assert.equal(browserExecutable("auto", (p) => p === "/usr/bin/google-chrome"), "/usr/bin/google-chrome");
    assert.equal(browserExecutable("auto", () => false), undefined);
    assert.equal(browserExecutable("", () => true), undefined);
    assert.equal(browserExecutable("/opt/c", (p) => p === "/opt/c"), "/opt/c");
    assert.equal(browserExecutable("/opt/c", () => false), undefined);
  });

  test("screenshot_save_to_file: a warning, the screenshot stays in the item", async () => {
    const exec = scrapeExecutor({
      start_urls: `${site.base}/js`,
      render_js: true,
      screenshot_enabled: true,
      screenshot_save_to_file: true,
    });
    assert.match((exec.compileWarnings ?? []).join("\n"), /screenshot_save_to_file is ignored.*screenshot_base64/);
    if (skip) return;
    const [item] = await exec.process([], ctx());
    assert.ok((output(item).screenshot_base64 as string).length > 100);
    assert.equal(output(item).screenshot_path, undefined);
  });
});
