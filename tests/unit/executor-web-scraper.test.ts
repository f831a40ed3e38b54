// web_scraper against a loopback HTTP server started here (allowed through OUTBOUND_ALLOWED_PRIVATE_HOSTS): page
// fields, crawling, limits, the refusals (bad selectors, private targets without the operator's leave) and the
// warnings for browser settings when no browser is installed (browser mode: tests/integration/web-scraper-browser.test.ts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createExecutor, defaultRegistry, PipelineError } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { Config } from "../../src/config/schema.ts";
import type { ExecutorInstance, ExecutorRunContext } from "../../src/executors/types.ts";
import { extractPage, parseFieldSelector } from "../../src/executors/html-page.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
const loopback = (await loadConfig({ env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1" }, dotenvPath: false }))
  .config;
const strict = (await loadConfig({ env: {}, dotenvPath: false })).config;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const hits: string[] = [];
let server: Server;
let base = "";

const html = (body: string, title = "Page") => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`);
};

before(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    hits.push(path);
    const handler = routes.get(path);
    if (!handler) return void res.writeHead(404, { "content-type": "text/html" }).end("<p>missing</p>");
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;

  routes.set(
    "/article",
    html(
      `<h1 class="headline"> Big   news </h1><time datetime="2024-05-01">May</time><p class="by">Ann &amp; Bob</p>
       <p>unclosed <b>bold<div class="empty">  </div>`,
      "  The\n  Article ",
    ),
  );
  routes.set(
    "/",
    html(`<a href="/a">A</a> <a href="b">B</a> <a href="${"/a#top"}">A again</a>
          <a href="mailto:x@y">mail</a> <a href="/skip/1">skip</a> <a href="/gone">gone</a>`),
  );
  routes.set("/a", html(`<a href="/a2">A2</a> <a href="/">home</a>`, "A"));
  routes.set("/b", html(`<p>b</p>`, "B"));
  routes.set("/a2", html(`<p>deep</p>`, "A2"));
  routes.set("/skip/1", html(`<p>skipped</p>`, "S"));
  routes.set("/pdf", (_req, res) => res.writeHead(200, { "content-type": "application/pdf" }).end("%PDF"));
  routes.set("/big", (_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<html><body>${"x".repeat(4000)}</body></html>`);
  });
  routes.set("/redirect", (_req, res) => res.writeHead(302, { location: "/article" }).end());
  routes.set("/to-metadata", (_req, res) => res.writeHead(302, { location: "http://169.254.169.254/" }).end());
  routes.set(
    "/hostile",
    html(`<a href="/docs/v1/a/b/page.html">ok</a> <a href="/docs/${"/".repeat(2000)}x">hostile</a>`),
  );
  routes.set("/docs/v1/a/b/page.html", html(`<p>doc</p>`, "Doc"));
  routes.set("/ua", (req, res) => html(`<p id="ua">${req.headers["user-agent"]}</p>`)(req, res));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const ctx = (): ExecutorRunContext => ({
  executorId: "scrape",
  pipelineName: "p",
  signal: AbortSignal.timeout(60_000),
  logger,
});

function make(settings: Record<string, unknown>, config: Config = loopback): ExecutorInstance {
  return createExecutor({ id: "scrape", type: "web_scraper", settings: { rate_limit: 10, ...settings } }, registry, {
    config,
    logger,
  });
}

const input = (id: string, data: Record<string, unknown>): Content => ({
  id: { canonical_id: id, unique_id: `u-${id}` },
  data,
  summary_data: {},
  executor_logs: [],
});

const out = (c: Content) => c.data?.web_scraping_output as Record<string, unknown>;

describe("web_scraper", () => {
  test("one item per page: title, selector fields (text and @attribute), shape as in ContentFlow", async () => {
    const [page] = await make({
      start_urls: `${base}/article`,
      selectors: { headline: "h1.headline", date: "time@datetime", by: ".by", empty: ".empty", none: ".nope" },
    }).process([], ctx());
    assert.equal(page.id.canonical_id, `${base}/article`);
    assert.match(page.id.unique_id, /^[0-9a-f]{40}$/);
    assert.equal(page.id.source_name, "web_scraper");
    assert.equal(page.id.source_type, "webpage");
    const o = out(page);
    assert.deepEqual(Object.keys(o), ["url", "title", "links", "extracted_fields", "timestamp"]);
    assert.equal(o.url, `${base}/article`);
    assert.equal(o.title, "The Article");
    assert.deepEqual(o.links, []);
    assert.deepEqual(o.extracted_fields, { headline: "Big   news", date: "2024-05-01", by: "Ann & Bob", empty: null });
    assert.deepEqual(page.summary_data, { extraction_status: "success", url: `${base}/article`, pages_scraped: 1 });
  });

  test("default selectors title and body; include_html; output_field; URLs from the items; redirects followed", async () => {
    const pages = await make({ include_html: true, output_field: "web" }).process(
      [
        input("i1", { url: `${base}/redirect` }),
        input("i2", { source_url: `${base}/b` }),
      ],
      ctx(),
    );
    assert.deepEqual(pages.map((p) => p.id.canonical_id), [`${base}/redirect`, `${base}/b`]);
    const web = pages[0].data?.web as Record<string, unknown>;
    // A selector's text is trimmed only (Playwright's text_content); the page title is whitespace-collapsed.
    assert.equal((web.extracted_fields as Record<string, string>).title, "The\n  Article");
    assert.equal(web.title, "The Article");
    assert.match((web.extracted_fields as Record<string, string>).body, /^Big\s+news\s+May/);
    assert.match(String(web.html), /<h1 class="headline">/);
    assert.deepEqual(pages.map((p) => p.summary_data?.pages_scraped), [2, 2]);
  });

  test("follow_links: breadth first, link_patterns, max_depth, fragments ignored, broken links skipped", async () => {
    hits.length = 0;
    const pages = await make({
      start_urls: [`${base}/`],
      follow_links: true,
      max_depth: 1,
      link_patterns: `${base}/a*, ${base}/b, ${base}/gone`,
      selectors: {},
    }).process([], ctx());
    assert.deepEqual(pages.map((p) => p.id.canonical_id), [`${base}/`, `${base}/a`, `${base}/b`]);
    assert.deepEqual(out(pages[0]).links, [
      `${base}/a`,
      `${base}/b`,
      `${base}/a#top`,
      `${base}/skip/1`,
      `${base}/gone`,
    ]);
    assert.ok(!hits.includes("/skip/1"), "a link outside link_patterns is not fetched");
    assert.ok(hits.includes("/gone"), "a broken link is tried, then skipped");
    assert.ok(!hits.includes("/a2"), "max_depth 1 stops below the first level");
    const deeper = await make({ start_urls: `${base}/`, follow_links: true, max_depth: 2, selectors: {} })
      .process([], ctx());
    assert.ok(deeper.some((p) => p.id.canonical_id === `${base}/a2`));
    const capped = await make({ start_urls: `${base}/`, follow_links: true, max_pages: 2, selectors: {} })
      .process([], ctx());
    assert.equal(capped.length, 2);
  });

  test("link_patterns are matched in linear time: a 2 KB link of slashes against nested stars does not stall", async () => {
    // On a backtracking engine this link takes far longer than any test timeout (O(n^4) steps for four stars).
    hits.length = 0;
    const pages = await make({
      start_urls: [`${base}/hostile`],
      follow_links: true,
      link_patterns: [`${base}/docs/*/*/*/*.html`],
      selectors: {},
    }).process([], ctx());
    assert.deepEqual(pages.map((p) => p.id.canonical_id), [`${base}/hostile`, `${base}/docs/v1/a/b/page.html`]);
    assert.equal(hits.filter((h) => h.endsWith("x")).length, 0, "the hostile link does not match and is not fetched");
  });

  test("user_agent; ContentFlow's Chrome user agent by default", async () => {
    const [custom] = await make({ start_urls: `${base}/ua`, user_agent: "Bot/1", selectors: { ua: "#ua" } })
      .process([], ctx());
    assert.equal((out(custom).extracted_fields as Record<string, string>).ua, "Bot/1");
    const [plain] = await make({ start_urls: `${base}/ua`, selectors: { ua: "#ua" } }).process([], ctx());
    assert.match((out(plain).extracted_fields as Record<string, string>).ua, /Chrome\/128/);
  });

  test("a start page that fails fails the executor, naming it and the URL", async () => {
    for (
      const [path, settings, message] of [
        ["/missing", {}, /HTTP 404/],
        ["/pdf", {}, /not an HTML page \(content-type application\/pdf\)/],
        ["/big", { max_page_bytes: 1024 }, /max_page_bytes/],
        ["/to-metadata", {}, /169\.254\.169\.254.*refused/],
      ] as const
    ) {
      await assert.rejects(
        make({ start_urls: `${base}${path}`, ...settings }).process([], ctx()),
        (err: Error) => err.message.startsWith(`executor 'scrape': ${base}${path}: `) && message.test(err.message),
      );
    }
  });

  test("a private or loopback target is refused unless OUTBOUND_ALLOWED_PRIVATE_HOSTS allows it", async () => {
    // A start URL: at compile time.
    assert.throws(
      () => make({ start_urls: `${base}/article` }, strict),
      (err: unknown) =>
        err instanceof PipelineError &&
        err.message.startsWith(`executor 'scrape' (web_scraper): start_urls: ${base}/article: `) &&
        /127\.0\.0\.1.*OUTBOUND_ALLOWED_PRIVATE_HOSTS/.test(err.message),
    );
    // A URL from an item: when fetching, before any request.
    hits.length = 0;
    for (const url of [`${base}/article`, "http://169.254.169.254/latest/meta-data/", "http://localhost:1/"]) {
      await assert.rejects(
        make({}, strict).process([input("i", { url })], ctx()),
        (err: Error) => err.message.startsWith(`executor 'scrape': ${url}: `) && /refused/.test(err.message),
      );
    }
    assert.deepEqual(hits, []);
    // A followed link to a refused host is skipped, the rest goes on.
    routes.set("/outlink", html(`<a href="http://169.254.169.254/x">meta</a><a href="/b">b</a>`));
    const pages = await make({ start_urls: `${base}/outlink`, follow_links: true, selectors: {} }).process([], ctx());
    assert.deepEqual(pages.map((p) => p.id.canonical_id), [`${base}/outlink`, `${base}/b`]);
  });

  test("no URL at all: no output", async () => {
    assert.deepEqual(await make({}).process([input("i", {})], ctx()), []);
  });

  test("XPath and bad selectors are refused at compile time", () => {
    const refuses = (settings: Record<string, unknown>, message: RegExp) =>
      assert.throws(() => make({ start_urls: `${base}/`, ...settings }), (err: unknown) => {
        assert.ok(err instanceof PipelineError, String(err));
        assert.match(err.message, /^executor 'scrape' \(web_scraper\): /);
        assert.match(err.message, message);
        return true;
      });
    refuses({ selectors: { a: "//div[@id='x']" } }, /selectors.a: XPath selectors are not supported/);
    refuses({ selectors: '{"a": "div[["}' }, /selectors.a: 'div\[\[' is not a valid CSS selector/);
    refuses({ start_urls: "ftp://x/y" }, /start_urls: 'ftp:\/\/x\/y' is not an http\(s\) URL/);
    refuses({ max_pages: 0 }, /max_pages/);
    make({ start_urls: `${base}/`, render_js: false, screenshot_type: "jpeg" });
  });

  test("browser settings without a browser (BROWSER_EXECUTABLE_PATH empty) compile with a warning each", () => {
    const noBrowser = { ...loopback, BROWSER_EXECUTABLE_PATH: "" };
    const warns = (settings: Record<string, unknown>, message: RegExp) =>
      assert.match(
        (make({ start_urls: `${base}/`, ...settings }, noBrowser).compileWarnings ?? []).join("\n"),
        message,
      );
    warns({ render_js: "true" }, /^render_js: true runs as a plain fetch .*: BROWSER_EXECUTABLE_PATH is empty/);
    warns({ wait_for_selector: "#main" }, /^wait_for_selector is ignored: BROWSER_EXECUTABLE_PATH is empty/);
    warns({ screenshot_enabled: true }, /^no screenshots are taken: BROWSER_EXECUTABLE_PATH is empty/);
    assert.deepEqual(make({ start_urls: `${base}/`, render_js: false }, noBrowser).compileWarnings, []);
    assert.deepEqual(make({ start_urls: `${base}/` }, noBrowser).compileWarnings, []);
  });
});

describe("html-page extraction", () => {
  test("broken HTML, <base href>, links resolved; selector@attr parsing", async () => {
    const page = await extractPage(
      `<html><head><base href="https://ex.com/dir/"><title>t</title></head><body><p>a <b>b <i>c</p>
       <a href="x">x</a><a href="/y">y</a><a href="https://o.org/z?q=1">z</a><a href="javascript:void 0">j</a></body>`,
      "https://page.net/",
      [parseFieldSelector("b", "p b")!, parseFieldSelector("i", "i")!, parseFieldSelector("href", "a@href")!],
      { links: true },
    );
    assert.deepEqual(page.fields, { b: "b c", i: "c", href: "x" });
    assert.deepEqual(page.links, ["https://ex.com/dir/x", "https://ex.com/y", "https://o.org/z?q=1"]);
    assert.equal(parseFieldSelector("x", "@href"), undefined);
    assert.deepEqual(parseFieldSelector("d", " time @ datetime "), { field: "d", css: "time", attr: "datetime" });
  });
});
