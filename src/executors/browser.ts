// A headless Chromium for executors that must render pages (web_scraper render_js: true), driven through
// playwright-core. One browser per worker process: launched at the first page, reused by every task, closed when the
// worker stops (closeSharedBrowser). At most BROWSER_MAX_PAGES pages are open at once; other renders wait for a slot.
//
// Every request a page makes (documents, scripts, images, XHR/fetch, redirects, iframes) is intercepted and checked
// against the outbound policy (src/net/outbound.ts) before Chromium may send it; a refused one is aborted. WebSockets
// are closed and service workers blocked (they would bypass the interception). Each page has a time limit and the
// HTML taken from it a size limit. Chromium resolves host names itself after our check, the same DNS-rebinding limit
// that outbound.ts documents for fetch().
//
// playwright-core is loaded at the first render, not with the worker: workers without such pipelines do not carry it.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { existsSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { Buffer } from "node:buffer";
import type { Frame, Route } from "playwright-core";
import { guardedFetch, OutboundBlockedError, type OutboundPolicy, readBodyLimited } from "../net/outbound.ts";
import { linkedSignal, raceAbort } from "../util/abort.ts";
import { errorText } from "../util/errors.ts";
import { ConcurrencyGate } from "./ai/endpoint-limiter.ts";

/** Where the worker looks for Chromium when BROWSER_EXECUTABLE_PATH is not set, in this order. */
export const DEFAULT_BROWSER_PATHS = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
];

/**
 * Chromium flags for headless server use with no network traffic of its own (updates, sync, QUIC probes); the tests'
 * Chromium runs with them too (tests/helpers/chromium.ts).
 */
export const CHROMIUM_SERVER_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** The worker's Chromium flags: the server flags, and no connections Chromium opens by itself (preconnects). */
export const LAUNCH_ARGS = [
  ...CHROMIUM_SERVER_ARGS,
  // Chromium never connects anywhere itself: the worker makes every request (fetchForPage). Without this, a page's
  // preconnect hints still opened bare TCP connections to hosts the outbound policy refuses.
  "--host-resolver-rules=MAP * ~NOTFOUND",
];

/**
 * The browser executable BROWSER_EXECUTABLE_PATH names: "auto" = the first of DEFAULT_BROWSER_PATHS that exists, ""
 * = none (browser disabled), else that file if it exists.
 */
export function browserExecutable(
  configured: string,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  const path = configured.trim();
  if (path === "auto") return DEFAULT_BROWSER_PATHS.find((p) => exists(p));
  return path !== "" && exists(path) ? path : undefined;
}

/** Why there is no browser, for warnings: names the setting to change. */
export function noBrowserReason(configured: string): string {
  const path = configured.trim();
  if (path === "auto") {
    return `no Chromium found (looked for ${
      DEFAULT_BROWSER_PATHS.join(", ")
    }); install one or set BROWSER_EXECUTABLE_PATH`;
  }
  if (path === "") return "BROWSER_EXECUTABLE_PATH is empty (browser disabled)";
  return `BROWSER_EXECUTABLE_PATH '${path}' does not exist`;
}

export interface ScreenshotOptions {
  fullPage: boolean;
  /** CSS selector of the element to capture instead of the page. */
  selector?: string;
  type: "png" | "jpeg";
  /** JPEG quality 1-100. */
  quality?: number;
}

export interface RenderOptions {
  url: string;
  policy: OutboundPolicy;
  /** Time limit of the whole render (waiting for a page slot not included). */
  timeoutMs: number;
  /** Largest HTML (UTF-8 bytes) taken from the rendered page. */
  maxHtmlBytes: number;
  /** Named in the size error as the setting that raises the limit. */
  maxHtmlSetting: string;
  /** Largest body of any one response the page receives (MAX_HTTP_RESPONSE_BYTES); a larger one is aborted. */
  maxResponseBytes: number;
  userAgent?: string;
  waitForSelector?: string;
  /** How long to wait for waitForSelector before going on with a warning. */
  waitForSelectorMs?: number;
  screenshot?: ScreenshotOptions;
  signal: AbortSignal;
  /** Things that went wrong but did not fail the page (selector not found, screenshot failed, requests refused). */
  onWarning?: (message: string, details?: Record<string, unknown>) => void;
}

export interface RenderedPage {
  html: string;
  /** URL of the page after redirects. */
  finalUrl: string;
  /** HTTP status of the main document, when there was a response. */
  status?: number;
  screenshot?: Uint8Array;
  /** Requests the outbound policy refused (URL without query: reason), at most 20. */
  refused: string[];
}

export class BrowserPageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BrowserPageError";
  }
}

type PlaywrightModule = typeof import("playwright-core");
let loading: Promise<PlaywrightModule> | undefined;

function loadPlaywright(): Promise<PlaywrightModule> {
  loading ??= import("playwright-core");
  loading.catch(() => (loading = undefined));
  return loading;
}

const MAX_REFUSED_LISTED = 20;
const MAX_REDIRECTS = 5;

/** What the route handler and the page loader share about one render. */
interface Navigation {
  /** Requests the outbound policy refused (URL without query: reason). */
  refused: string[];
  /** The page's main frame, once the page exists. */
  mainFrame?: Frame;
  /** Where the last navigation of the main frame was redirected to (followed by `load`). */
  redirect?: string;
  /** URL of the last document of the main frame that was not a redirect. */
  lastUrl?: string;
}

function withoutQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url.slice(0, 200);
  }
}

/** A Chromium shared by the renders of one process, with a bounded number of open pages. */
export class BrowserPool {
  private browser: Browser | undefined;
  private launching: Promise<Browser> | undefined;
  private readonly gate: ConcurrencyGate;
  private closed = false;
  private openPages = 0;

  constructor(
    readonly executablePath: string,
    readonly maxPages: number,
    private readonly logger?: Logger,
  ) {
    this.gate = new ConcurrencyGate(maxPages);
  }

  /** Pages open now (for tests and measurements). */
  get pagesOpen(): number {
    return this.openPages;
  }

  get launched(): boolean {
    return this.browser !== undefined;
  }

  private async launch(): Promise<Browser> {
    if (this.closed) throw new BrowserPageError("the browser is closed (the worker is stopping)");
    if (this.browser?.isConnected()) return this.browser;
    this.launching ??= (async () => {
      const { chromium } = await loadPlaywright();
      const browser = await chromium.launch({
        executablePath: this.executablePath,
        headless: true,
        args: LAUNCH_ARGS,
        timeout: 60_000,
      });
      browser.on("disconnected", () => {
        if (this.browser === browser) this.browser = undefined;
        if (!this.closed) this.logger?.warn("browser exited; the next page starts a new one");
      });
      if (this.closed) {
        await browser.close().catch(() => undefined);
        throw new BrowserPageError("the browser is closed (the worker is stopping)");
      }
      this.browser = browser;
      this.logger?.info("browser started", { executable: this.executablePath, max_pages: this.maxPages });
      return browser;
    })();
    try {
      return await this.launching;
    } catch (err) {
      if (err instanceof BrowserPageError) throw err;
      throw new BrowserPageError(`cannot start the browser ${this.executablePath}: ${errorText(err)}`);
    } finally {
      this.launching = undefined;
    }
  }

  /** Opens the URL in a fresh context (no cookies shared between renders), waits for it to load, returns its HTML. */
  async render(opts: RenderOptions): Promise<RenderedPage> {
    const release = await this.gate.acquire(opts.signal);
    const timer = new AbortController();
    const timeout = setTimeout(
      () => timer.abort(new BrowserPageError(`page not rendered within ${Math.round(opts.timeoutMs / 1000)} s`)),
      opts.timeoutMs,
    );
    const linked = linkedSignal(opts.signal, timer.signal);
    let context: BrowserContext | undefined;
    this.openPages++;
    try {
      const browser = await raceAbort(this.launch(), linked.signal);
      context = await browser.newContext({
        userAgent: opts.userAgent,
        serviceWorkers: "block",
        acceptDownloads: false,
        javaScriptEnabled: true,
      });
      const refused: string[] = [];
      const nav: Navigation = { refused };
      await context.route("**/*", (route) => fetchForPage(route, opts, linked.signal, nav));
      await context.routeWebSocket(/.*/, (ws) => ws.close({ code: 1008, reason: "WebSockets are not allowed" }));
      const page = await context.newPage();
      nav.mainFrame = page.mainFrame();
      const rendered = await raceAbort(this.load(page, opts, nav), linked.signal);
      if (refused.length > 0) {
        opts.onWarning?.("the outbound policy refused requests of the page", { url: opts.url, refused });
      }
      return rendered;
    } catch (err) {
      if (timer.signal.aborted && !opts.signal.aborted) throw timer.signal.reason;
      throw err;
    } finally {
      clearTimeout(timeout);
      linked.dispose();
      // Closing the context closes its page and stops whatever the page was still doing.
      if (context) await context.close().catch(() => undefined);
      this.openPages--;
      release();
    }
  }

  private async load(page: Page, opts: RenderOptions, nav: Navigation): Promise<RenderedPage> {
    const refused = nav.refused;
    let response;
    try {
      // Redirects of the page itself are followed here, each one a navigation that fetchForPage checks again.
      let target = opts.url;
      for (let hops = 0;; hops++) {
        nav.redirect = undefined;
        response = await page.goto(target, { waitUntil: "load", timeout: opts.timeoutMs });
        if (nav.redirect === undefined) break;
        if (hops >= MAX_REDIRECTS) throw new BrowserPageError(`more than ${MAX_REDIRECTS} redirects`);
        target = nav.redirect;
      }
    } catch (err) {
      if (err instanceof BrowserPageError) throw err;
      // A refused document (the URL or a redirect target) shows up as a bare net::ERR_BLOCKED_BY_CLIENT: say why.
      const why = refused.length > 0 ? ` (outbound policy: ${refused[refused.length - 1]})` : "";
      throw new BrowserPageError(`cannot load the page: ${firstLine(errorText(err))}${why}`);
    }
    const status = response?.status();
    if (status !== undefined && status >= 400) throw new BrowserPageError(`HTTP ${status}`);
    const type = (response?.headers()["content-type"] ?? "").toLowerCase();
    if (type !== "" && !/text\/html|application\/xhtml\+xml/.test(type)) {
      throw new BrowserPageError(`not an HTML page (content-type ${type.split(";")[0]})`);
    }
    if (opts.waitForSelector) {
      const waitMs = Math.min(opts.waitForSelectorMs ?? 10_000, opts.timeoutMs);
      try {
        await page.waitForSelector(opts.waitForSelector, { timeout: waitMs });
      } catch (err) {
        opts.onWarning?.(`wait_for_selector '${opts.waitForSelector}' not found within ${waitMs / 1000} s`, {
          url: opts.url,
          error: firstLine(errorText(err)),
        });
      }
    }
    const html = await page.content();
    const bytes = new TextEncoder().encode(html).byteLength;
    if (bytes > opts.maxHtmlBytes) {
      throw new BrowserPageError(
        `the rendered page is ${bytes} bytes, more than ${opts.maxHtmlSetting} (${opts.maxHtmlBytes})`,
      );
    }
    let screenshot: Uint8Array | undefined;
    if (opts.screenshot) screenshot = await this.capture(page, opts.screenshot, opts);
    return { html, finalUrl: nav.lastUrl ?? page.url(), status, screenshot, refused };
  }

  private async capture(page: Page, s: ScreenshotOptions, opts: RenderOptions): Promise<Uint8Array | undefined> {
    const quality = s.type === "jpeg" ? s.quality : undefined;
    try {
      if (s.selector) {
        const element = await page.$(s.selector);
        if (!element) {
          opts.onWarning?.(`screenshot_selector '${s.selector}' not found; no screenshot`, { url: opts.url });
          return undefined;
        }
        return new Uint8Array(await element.screenshot({ type: s.type, quality }));
      }
      return new Uint8Array(await page.screenshot({ type: s.type, quality, fullPage: s.fullPage }));
    } catch (err) {
      opts.onWarning?.("screenshot failed", { url: opts.url, error: firstLine(errorText(err)) });
      return undefined;
    }
  }

  /** Closes the browser; renders started afterwards fail. */
  async close(): Promise<void> {
    this.closed = true;
    const browser = this.browser ?? await this.launching?.catch(() => undefined);
    this.browser = undefined;
    if (browser) await browser.close().catch(() => undefined);
  }
}

/** Hop-by-hop headers and those fetch() sets itself; not passed on in either direction. */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DROPPED_REQUEST_HEADERS = new Set(["host", "connection", "content-length", "accept-encoding", "keep-alive"]);
/** fetch() has already decoded the body, so its encoding and length no longer apply. */
const DROPPED_RESPONSE_HEADERS = new Set(["content-encoding", "content-length", "transfer-encoding", "connection"]);

/**
 * Makes a request of the page ourselves through guardedFetch (the outbound policy, on every redirect too) and hands
 * the answer to Chromium, whose own network stack is never used: Playwright lets Chromium follow a redirect without
 * routing the new request, so a redirect could otherwise reach a refused host. A redirect of the main frame's
 * document is not followed here but by `load` (a new navigation, so the page gets its real URL); one of anything
 * else is followed by guardedFetch. A refused request is aborted and listed in `nav.refused`.
 */
async function fetchForPage(route: Route, opts: RenderOptions, signal: AbortSignal, nav: Navigation): Promise<void> {
  const request = route.request();
  const url = request.url();
  try {
    let mainDocument = false;
    try {
      mainDocument = request.isNavigationRequest() && request.frame() === nav.mainFrame;
    } catch {
      // a request without a frame (service worker): not a document
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(await request.allHeaders())) {
      if (!DROPPED_REQUEST_HEADERS.has(name.toLowerCase()) && !name.startsWith(":")) headers.set(name, value);
    }
    const method = request.method();
    const posted = method === "GET" || method === "HEAD" ? null : request.postDataBuffer();
    const body = posted ? new Uint8Array(posted) : undefined;
    const res = await guardedFetch(url, { method, headers, body, signal }, {
      policy: opts.policy,
      maxRedirects: mainDocument ? 0 : MAX_REDIRECTS,
    });
    const location = res.headers.get("location");
    if (mainDocument && REDIRECT_STATUSES.has(res.status) && location) {
      await res.body?.cancel().catch(() => undefined);
      nav.redirect = new URL(location, url).href;
      await route.fulfill({ status: 200, contentType: "text/html", body: "" });
      return;
    }
    const bytes = await readBodyLimited(res, opts.maxResponseBytes, `response of ${method} ${withoutQuery(url)}`);
    const answer: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (!DROPPED_RESPONSE_HEADERS.has(name) && name !== "set-cookie") answer[name] = value;
    });
    const cookies = res.headers.getSetCookie();
    if (cookies.length > 0) answer["set-cookie"] = cookies.join("\n");
    if (mainDocument) nav.lastUrl = res.url || url;
    await route.fulfill({ status: res.status, headers: answer, body: Buffer.from(bytes) });
  } catch (err) {
    if (err instanceof OutboundBlockedError && nav.refused.length < MAX_REFUSED_LISTED) {
      nav.refused.push(`${withoutQuery(url)}: ${errorText(err)}`);
    }
    await route.abort(err instanceof OutboundBlockedError ? "blockedbyclient" : "failed").catch(() => undefined);
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0].slice(0, 500);
}

let shared: BrowserPool | undefined;

/**
 * The process's browser for these settings, or undefined when none is installed (BROWSER_EXECUTABLE_PATH). Nothing
 * is launched until the first render.
 */
export function sharedBrowser(
  config: Pick<Config, "BROWSER_EXECUTABLE_PATH" | "BROWSER_MAX_PAGES">,
  logger?: Logger,
): BrowserPool | undefined {
  const path = browserExecutable(config.BROWSER_EXECUTABLE_PATH);
  if (!path) return undefined;
  if (shared && shared.executablePath === path && shared.maxPages === config.BROWSER_MAX_PAGES) return shared;
  const previous = shared;
  shared = new BrowserPool(path, config.BROWSER_MAX_PAGES, logger);
  if (previous) void previous.close();
  return shared;
}

/** Closes the process's browser if one was started (worker drain, end of `pipeline run`). */
export async function closeSharedBrowser(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.close();
}
