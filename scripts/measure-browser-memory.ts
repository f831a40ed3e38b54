// Memory cost of web_scraper's browser mode (src/executors/browser.ts), for docs/pipelines.md: the worker process's
// resident memory and the Chromium processes' proportional set size (PSS: shared pages split between the processes
// that share them, so the sum is not counted twice) before the browser starts, with the browser started and no page,
// and with 1 and N pages open at once. Each page is a local page whose script builds a DOM of 2,000 elements, held
// open (rendered, its load event waiting on an image that never comes) until the measurement is taken. Linux only
// (reads /proc). One run, no assertions.
//
//   deno run -A scripts/measure-browser-memory.ts [--pages N] [--chromium PATH]
//   bun scripts/measure-browser-memory.ts …
import process from "node:process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { browserExecutable, BrowserPool } from "../src/executors/browser.ts";
import { makeOutboundPolicy } from "../src/net/outbound.ts";
import { sleep } from "../src/util/sleep.ts";

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}

const pages = Number(option("--pages", "4"));
const chromium = option("--chromium", browserExecutable("auto") ?? "");
if (!chromium) throw new Error("no Chromium found: pass --chromium PATH");

/** Field of /proc/<pid>/status or smaps_rollup in kB, 0 when the process is gone. */
function procKb(file: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(file, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Every process descending from `root` (by /proc/<pid>/stat parent ids). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* exited */ }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, p] of parent) {
      if (p === pid) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

function sample(label: string): void {
  const workerRss = procKb(`/proc/${process.pid}/status`, "VmRSS");
  const children = descendants(process.pid);
  const chromiumPss = children.reduce((sum, pid) => sum + procKb(`/proc/${pid}/smaps_rollup`, "Pss"), 0);
  const mb = (kb: number) => (kb / 1024).toFixed(0).padStart(6);
  console.log(
    `${label.padEnd(28)} worker RSS ${mb(workerRss)} MB   Chromium PSS ${mb(chromiumPss)} MB in ${
      String(children.length).padStart(2)
    } processes   total ${mb(workerRss + chromiumPss)} MB`,
  );
}

const PAGE = `<!doctype html><html><head><title>measure</title></head><body><div id="root"></div>
<script>
  const root = document.getElementById("root");
  for (let i = 0; i < 2000; i++) {
    const p = document.createElement("p");
    p.innerHTML = "<b>item " + i + "</b> " + "lorem ipsum dolor sit amet ".repeat(5);
    root.appendChild(p);
  }
</script><img src="/hang"></body></html>`;

const server = createServer((req, res) => {
  if (req.url === "/hang") return; // never answers: the page stays open, its load event pending
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(PAGE);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
const addr = server.address();
const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/`;
const policy = makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["127.0.0.1"] });
const pool = new BrowserPool(chromium, pages);

/** Opens `n` pages and keeps them open until the returned function is called. */
async function openPages(n: number): Promise<() => Promise<void>> {
  const stop = new AbortController();
  const renders = Array.from({ length: n }, () =>
    pool.render({
      url,
      policy,
      timeoutMs: 600_000,
      maxHtmlBytes: 10_000_000,
      maxHtmlSetting: "-",
      maxResponseBytes: 10_000_000,
      signal: stop.signal,
    }).catch(() => undefined));
  while (pool.pagesOpen < n) await sleep(50);
  await sleep(3000); // the pages' scripts have run and the memory settled
  return async () => {
    stop.abort(new Error("measured"));
    await Promise.all(renders);
  };
}

console.log(`${process.versions.bun ? `Bun ${process.versions.bun}` : `Deno ${process.versions.deno}`}, ${chromium}`);
sample("before the browser");
const warm = await openPages(1);
await warm();
await sleep(2000);
sample("browser started, no page");
const one = await openPages(1);
sample("1 page open");
await one();
const many = await openPages(pages);
sample(`${pages} pages open`);
await many();
await sleep(2000);
sample("pages closed");
await pool.close();
server.close();
