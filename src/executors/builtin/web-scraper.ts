// web_scraper: fetches web pages (start_urls, plus data.url / data.source_url of the items it receives) and makes
// one content item per page with its title, the fields named by CSS `selectors` and, when following links, the links
// it found. With render_js: true (or wait_for_selector / screenshot_enabled) pages are rendered by the worker's
// headless Chromium (executors/browser.ts), as ContentFlow always does; otherwise, or when no browser is installed
// (then with a warning in pipeline check and on each item), they are fetched as served and parsed without running
// their scripts. Every URL, redirects and a rendered page's own requests included, goes through the outbound policy
// (OUTBOUND_ALLOWED_HOSTS / OUTBOUND_ALLOWED_PRIVATE_HOSTS).
import * as v from "valibot";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import { type Content, nowIso } from "../../model/content.ts";
import {
  boolSetting,
  choiceSetting,
  intSetting,
  mapSetting,
  numberSetting,
  stringListSetting,
  stringSetting,
} from "../settings.ts";
import { extractPage, type FieldSelector, type PageContent, parseFieldSelector } from "../html-page.ts";
import {
  checkOutboundUrl,
  guardedFetch,
  type OutboundPolicy,
  outboundPolicy,
  readTextLimited,
} from "../../net/outbound.ts";
import { linkedSignal } from "../../util/abort.ts";
import { type BrowserPool, noBrowserReason, type RenderedPage, sharedBrowser } from "../browser.ts";
import { sleepOrAbort } from "../../util/sleep.ts";
import { starPattern } from "../../util/linear-regex.ts";

/** ContentFlow's default User-Agent (a desktop Chrome). */
const DEFAULT_USER_AGENT =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36";

const settings = v.object({
  start_urls: v.optional(stringListSetting("start_urls"), []),
  link_patterns: v.optional(stringListSetting("link_patterns"), []),
  selectors: v.optional(
    mapSetting("selectors", v.string("a selector must be a string")),
    { title: "title", body: "body" },
  ),
  render_js: v.optional(boolSetting("render_js")),
  follow_links: v.optional(boolSetting("follow_links"), false),
  max_depth: v.optional(intSetting("max_depth", { min: 0, max: 10 }), 1),
  rate_limit: v.optional(numberSetting("rate_limit", { min: 0.1, max: 10 }), 1.0),
  max_pages: v.optional(intSetting("max_pages", { min: 1, max: 1000 }), 100),
  wait_for_selector: v.optional(v.pipe(stringSetting("wait_for_selector"), v.trim())),
  include_html: v.optional(boolSetting("include_html"), false),
  user_agent: v.optional(v.pipe(stringSetting("user_agent"), v.trim()), DEFAULT_USER_AGENT),
  screenshot_enabled: v.optional(boolSetting("screenshot_enabled"), false),
  screenshot_full_page: v.optional(boolSetting("screenshot_full_page"), true),
  screenshot_selector: v.optional(stringSetting("screenshot_selector")),
  screenshot_type: v.optional(choiceSetting("screenshot_type", ["png", "jpeg"]), "png"),
  screenshot_quality: v.optional(intSetting("screenshot_quality", { min: 1, max: 100 })),
  screenshot_save_to_file: v.optional(boolSetting("screenshot_save_to_file"), false),
  screenshot_output_dir: v.optional(stringSetting("screenshot_output_dir"), "./screenshots"),
  screenshot_filename_template: v.optional(stringSetting("screenshot_filename_template"), "{timestamp}_{index}.{ext}"),
  output_field: v.optional(v.pipe(stringSetting("output_field"), v.trim(), v.minLength(1)), "web_scraping_output"),
  // Ours (ContentFlow had none): limits of one page fetch.
  request_timeout_secs: v.optional(intSetting("request_timeout_secs", { min: 1, max: 600 }), 30),
  max_page_bytes: v.optional(intSetting("max_page_bytes", { min: 1024, max: 50 * 1024 * 1024 }), 2 * 1024 * 1024),
});
type Settings = v.InferOutput<typeof settings>;

/**
 * link_patterns: "*" matches anything; a pattern without "*" must equal the URL. Matched in linear time: the links
 * come from untrusted pages.
 */
function linkMatcher(patterns: string[]): (url: string) => boolean {
  const regexes = patterns.map((p) => starPattern(p));
  return (url) => regexes.length === 0 || regexes.some((r) => r.matchesWhole(url));
}

function withoutFragment(url: string): string {
  const u = new URL(url);
  u.hash = "";
  return u.href;
}

function inputUrls(items: Content[]): string[] {
  const urls: string[] = [];
  for (const item of items) {
    const url = item.data?.url || item.data?.source_url;
    if (typeof url === "string" && url.trim() !== "") urls.push(url.trim());
  }
  return urls;
}

class PageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PageError";
  }
}

async function fetchPage(
  url: string,
  s: Settings,
  policy: OutboundPolicy,
  signal: AbortSignal,
): Promise<{ html: string; finalUrl: string }> {
  const timer = new AbortController();
  const timeout = setTimeout(
    () => timer.abort(new PageError(`no response within ${s.request_timeout_secs} s`)),
    s.request_timeout_secs * 1000,
  );
  const linked = linkedSignal(signal, timer.signal);
  try {
    const res = await guardedFetch(url, {
      method: "GET",
      headers: { "user-agent": s.user_agent, accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1" },
      signal: linked.signal,
    }, { policy, maxRedirects: 5 });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new PageError(`HTTP ${res.status}`);
    }
    const type = (res.headers.get("content-type") ?? "").toLowerCase();
    if (type !== "" && !/text\/html|application\/xhtml\+xml/.test(type)) {
      await res.body?.cancel().catch(() => undefined);
      throw new PageError(`not an HTML page (content-type ${type.split(";")[0]})`);
    }
    const html = await readTextLimited(res, s.max_page_bytes, `page ${url}`, "max_page_bytes");
    return { html, finalUrl: res.url || url };
  } catch (err) {
    if (timer.signal.aborted && !signal.aborted) throw timer.signal.reason;
    throw err;
  } finally {
    clearTimeout(timeout);
    linked.dispose();
  }
}

function pageItem(
  url: string,
  s: Settings,
  page: PageContent,
  html: string,
  screenshot?: Uint8Array,
): Content {
  const timestamp = nowIso();
  const output: Record<string, unknown> = {
    url,
    title: page.title,
    links: page.links,
    extracted_fields: page.fields,
    timestamp,
  };
  if (s.include_html) output.html = html;
  // ContentFlow stores the screenshot as base64 in the output (screenshot_save_to_file is ignored, see create).
  if (screenshot) output.screenshot_base64 = Buffer.from(screenshot).toString("base64");
  return {
    id: {
      canonical_id: url,
      unique_id: createHash("sha1").update(`${url}-${timestamp}`).digest("hex"),
      source_name: "web_scraper",
      source_type: "webpage",
    },
    data: { [s.output_field]: output },
    summary_data: { extraction_status: "success", url },
    executor_logs: [],
  };
}

/** Whether the settings ask for a browser (ContentFlow always uses one; our default without render_js is a fetch). */
function wantsBrowser(s: Settings): boolean {
  return s.render_js === true || !!s.wait_for_selector || s.screenshot_enabled;
}

/** What a page looks like without a browser, for the warning (pipeline check and each item's log). */
function withoutBrowserNote(s: Settings, reason: string): string {
  const lost = [
    s.render_js === true ? "render_js: true runs as a plain fetch (the page's JavaScript does not run)" : undefined,
    s.wait_for_selector ? "wait_for_selector is ignored" : undefined,
    s.screenshot_enabled ? "no screenshots are taken" : undefined,
  ].filter((x) => x !== undefined);
  return `${lost.join("; ")}: ${reason}`;
}

/** An executor log entry on a page item, for what went wrong without failing the page. */
function withWarnings(item: Content, id: string, start: string, warnings: string[]): Content {
  if (warnings.length === 0) return item;
  return {
    ...item,
    executor_logs: [...(item.executor_logs ?? []), {
      executor_id: id,
      start_time: start,
      end_time: nowIso(),
      status: "completed",
      details: { warnings },
      errors: [],
    }],
  };
}

export const webScraper: ExecutorDefinition<typeof settings> = {
  type: "web_scraper",
  category: "input",
  description: "Fetches web pages (optionally following links) and extracts their title and CSS-selected fields",
  settings,
  create: (id, s, deps) => {
    const compileWarnings: string[] = [];
    if (s.screenshot_enabled && s.screenshot_save_to_file) {
      // ContentFlow writes the file under screenshot_output_dir on the worker and gives screenshot_path; a worker's
      // disk is not where anyone would look for it, so ours keeps the screenshot in the item.
      compileWarnings.push(
        "screenshot_save_to_file is ignored: this worker writes no files of its own; the screenshot is in the " +
          "output as screenshot_base64 (no screenshot_path)",
      );
    }
    let browser: BrowserPool | undefined;
    let noBrowser: string | undefined;
    if (wantsBrowser(s)) {
      browser = sharedBrowser(deps.config, deps.logger);
      if (!browser) {
        noBrowser = withoutBrowserNote(s, noBrowserReason(deps.config.BROWSER_EXECUTABLE_PATH));
        compileWarnings.push(noBrowser);
      }
    }
    const selectors: FieldSelector[] = [];
    for (const [field, text] of Object.entries(s.selectors)) {
      const parsed = parseFieldSelector(field, text);
      if (parsed) selectors.push(parsed);
    }
    const policy = outboundPolicy(deps.config);
    for (const url of s.start_urls) {
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
        throw new Error(`start_urls: '${url}' is not an http(s) URL`);
      }
      // Host allow-list and literal private addresses now; resolved addresses are checked when fetching.
      try {
        checkOutboundUrl(url, policy);
      } catch (err) {
        throw new Error(`start_urls: ${url}: ${(err as Error).message}`);
      }
    }
    const matches = linkMatcher(s.link_patterns);
    const maxHtmlBytes = Math.min(s.max_page_bytes, deps.config.MAX_HTTP_RESPONSE_BYTES);
    const render = async (url: string, ctx: ExecutorRunContext, warnings: string[]): Promise<RenderedPage> =>
      await browser!.render({
        url,
        policy,
        timeoutMs: s.request_timeout_secs * 1000,
        maxHtmlBytes,
        maxHtmlSetting: maxHtmlBytes === s.max_page_bytes ? "max_page_bytes" : "MAX_HTTP_RESPONSE_BYTES",
        maxResponseBytes: deps.config.MAX_HTTP_RESPONSE_BYTES,
        userAgent: s.user_agent,
        waitForSelector: s.wait_for_selector,
        screenshot: s.screenshot_enabled
          ? {
            fullPage: s.screenshot_full_page,
            selector: s.screenshot_selector?.trim() || undefined,
            type: s.screenshot_type,
            quality: s.screenshot_quality,
          }
          : undefined,
        signal: ctx.signal,
        onWarning: (message, details) => {
          warnings.push(details?.refused ? `${message}: ${(details.refused as string[]).join("; ")}` : message);
          ctx.logger.warn(`web_scraper: ${message}`, details);
        },
      });
    return {
      id,
      type: "web_scraper",
      compileWarnings,
      async process(input, ctx: ExecutorRunContext) {
        if (noBrowser) ctx.logger.warn(`web_scraper: ${noBrowser}`);
        const starts = [...new Set([...s.start_urls, ...inputUrls(input)])];
        if (starts.length === 0) {
          ctx.logger.warn("web_scraper has no URL: set start_urls or give items with data.url");
          return [];
        }
        const queue: Array<{ url: string; depth: number }> = starts.map((url) => ({ url, depth: 0 }));
        const visited = new Set<string>();
        const pages: Content[] = [];
        let fetched = 0;
        while (queue.length > 0 && pages.length < s.max_pages) {
          ctx.signal.throwIfAborted();
          const { url, depth } = queue.shift()!;
          if (visited.has(url)) continue;
          visited.add(url);
          const isStart = depth === 0;
          if (!isStart && !matches(url)) continue;
          if (fetched > 0) await sleepOrAbort(1000 / s.rate_limit, ctx.signal);
          fetched++;
          let html: string, finalUrl: string, screenshot: Uint8Array | undefined;
          const started = nowIso();
          const warnings: string[] = noBrowser ? [noBrowser] : [];
          try {
            if (browser) ({ html, finalUrl, screenshot } = await render(url, ctx, warnings));
            else ({ html, finalUrl } = await fetchPage(url, s, policy, ctx.signal));
          } catch (err) {
            if (ctx.signal.aborted) throw err;
            const message = `executor '${id}': ${url}: ${(err as Error).message}`;
            if (isStart) throw new Error(message);
            ctx.logger.warn("web_scraper skips a linked page it could not fetch", { error: message });
            continue;
          }
          const follow = s.follow_links && depth < s.max_depth;
          const page = await extractPage(html, finalUrl, selectors, { links: s.follow_links });
          pages.push(withWarnings(pageItem(url, s, page, html, screenshot), id, started, warnings));
          if (follow) {
            for (const link of page.links) {
              const next = withoutFragment(link);
              if (!visited.has(next)) queue.push({ url: next, depth: depth + 1 });
            }
          }
        }
        return pages.map((p) => ({ ...p, summary_data: { ...p.summary_data, pages_scraped: pages.length } }));
      },
    };
  },
};
