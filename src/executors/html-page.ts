// What web_scraper reads from a fetched HTML page, without a browser: the title, the fields named by CSS selectors
// (text, or an attribute with "selector@attr"), and the http(s) links. Parsing uses linkedom (a standard DOM built by
// htmlparser2, forgiving with broken HTML); nothing on the page is run. linkedom is loaded at the first page, not
// with the worker (it weighs several MiB); selectors are checked when the pipeline is compiled with css-select, the
// selector engine linkedom itself uses.
import { compile as compileSelector } from "css-select";
import type { parseHTML as ParseHTML } from "linkedom";

let linkedom: Promise<typeof import("linkedom")> | undefined;
function loadLinkedom(): Promise<typeof import("linkedom")> {
  linkedom ??= import("linkedom");
  linkedom.catch(() => (linkedom = undefined)); // a failed load is tried again by the next page
  return linkedom;
}

export interface FieldSelector {
  field: string;
  css: string;
  /** Read this attribute instead of the text. */
  attr?: string;
}

export interface PageContent {
  title: string;
  /** Per selector that matched: the first match's trimmed text or attribute (null when empty or absent). */
  fields: Record<string, string | null>;
  /** Absolute http(s) URLs of the page's `a[href]`, in page order (only when asked for). */
  links: string[];
}

type Doc = ReturnType<typeof ParseHTML>["document"];

/**
 * "selector" or "selector@attribute", as ContentFlow's web_scraper reads them. XPath needs a browser engine and is
 * refused; so is a selector the CSS engine cannot parse. `field` names the setting in the error.
 */
export function parseFieldSelector(field: string, text: string): FieldSelector | undefined {
  let css = text.trim();
  let attr: string | undefined;
  const at = css.lastIndexOf("@");
  if (at >= 0) {
    attr = css.slice(at + 1).trim() || undefined;
    css = css.slice(0, at).trim();
  }
  if (css === "") return undefined;
  if (css.startsWith("/") || css.startsWith("(") || /^xpath=/i.test(css)) {
    throw new Error(`selectors.${field}: XPath selectors are not supported (no browser engine); use a CSS selector`);
  }
  try {
    compileSelector(css);
  } catch (err) {
    throw new Error(`selectors.${field}: '${css}' is not a valid CSS selector (${(err as Error).message})`);
  }
  return { field, css, attr };
}

function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function baseOf(document: Doc, pageUrl: string): string {
  const href = document.querySelector("base[href]")?.getAttribute("href");
  if (href && URL.canParse(href, pageUrl)) return new URL(href, pageUrl).href;
  return pageUrl;
}

export async function extractPage(
  html: string,
  pageUrl: string,
  selectors: readonly FieldSelector[],
  opts: { links: boolean },
): Promise<PageContent> {
  const { document } = (await loadLinkedom()).parseHTML(html);
  const fields: Record<string, string | null> = {};
  for (const s of selectors) {
    const element = document.querySelector(s.css);
    if (!element) continue;
    const value = s.attr ? element.getAttribute(s.attr) : element.textContent;
    const trimmed = value?.trim();
    fields[s.field] = trimmed ? trimmed : null;
  }
  const links: string[] = [];
  if (opts.links) {
    const base = baseOf(document, pageUrl);
    for (const a of document.querySelectorAll("a[href]")) {
      const href = a.getAttribute("href")?.trim();
      if (!href || !URL.canParse(href, base)) continue;
      const url = new URL(href, base);
      if (url.protocol === "http:" || url.protocol === "https:") links.push(url.href);
    }
  }
  return { title: collapse(document.querySelector("title")?.textContent ?? ""), fields, links };
}
