// Document extraction benchmark: generates a PDF, a Word document, a PowerPoint deck and an Excel workbook
// (tests/helpers/documents.ts), runs each through its executor once (document in a temp file, as
// content_retriever leaves it) and prints pages/s for the PDF, MB/s for the Office files (of the file, and of the
// XML it inflates to), and the longest time the event loop was kept from running a 10 ms timer meanwhile (the
// worker renews its queue leases on that loop). The first row is a 1-page PDF: the first PDF of a process starts
// the PDF thread, which loads pdf.js. The refused row is a PDF with more pages than max_pages (2000), refused after
// opening it. One run, no assertions.
//
//   deno run -A --v8-flags=--expose-gc scripts/bench-documents.ts [--pdf-pages N] [--refused-pdf-pages N]
//        [--docx-paragraphs N] [--pptx-slides N] [--xlsx-rows N]
//   bun scripts/bench-documents.ts …
import process from "node:process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { intFlag } from "./lib/bench-kit.ts";
import { createExecutor, defaultRegistry } from "../src/pipeline/index.ts";
import { loadConfig } from "../src/config/load.ts";
import { configureLogging, Logger } from "../src/log/logger.ts";
import { unzipSync } from "fflate";
import { makeDocx, makePdf, makePptx, makeXlsx } from "../tests/helpers/documents.ts";

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: deno run -A scripts/bench-documents.ts [--pdf-pages N] [--refused-pdf-pages N] [--docx-paragraphs N] " +
      "[--pptx-slides N] [--xlsx-rows N]",
  );
  process.exit(0);
}
const pdfPages = intFlag(args, "--pdf-pages", 2000);
const refusedPdfPages = intFlag(args, "--refused-pdf-pages", 10_000);
const docxParagraphs = intFlag(args, "--docx-paragraphs", 20_000);
const pptxSlides = intFlag(args, "--pptx-slides", 500);
const xlsxRows = intFlag(args, "--xlsx-rows", 100_000);

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const registry = defaultRegistry();
const dir = mkdtempSync(join(tmpdir(), "bench-docs-"));

/** Runs `work` while a 10 ms interval timer measures the longest gap between its ticks. */
async function withStallMeter<T>(work: () => Promise<T>): Promise<{ result: T; ms: number; maxStallMs: number }> {
  let last = performance.now();
  let maxStall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last - 10);
    last = now;
  }, 10);
  const start = performance.now();
  try {
    const result = await work();
    return { result, ms: performance.now() - start, maxStallMs: Math.max(maxStall, performance.now() - last - 10) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Collects the garbage of generating the documents before a measurement, so that a collection of it does not count
 * as a stall of the extraction (Bun always; Deno with --v8-flags=--expose-gc).
 */
function collectGarbage(): void {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (typeof g.Bun?.gc === "function") g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
}

async function measure(type: string, name: string, bytes: Uint8Array, settings: Record<string, unknown> = {}) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  collectGarbage();
  const executor = createExecutor({ id: "bench", type, settings }, registry, { config, logger });
  const item = {
    id: { canonical_id: name, unique_id: name, filename: name },
    data: { temp_file_path: path },
    summary_data: {},
    executor_logs: [],
  };
  const run = await withStallMeter(async () => {
    try {
      return await executor.process([item], {
        executorId: "bench",
        pipelineName: "bench",
        signal: new AbortController().signal,
        logger,
      });
    } catch (err) {
      return err as Error;
    }
  });
  return { ...run, summary: run.result instanceof Error ? {} : run.result[0].summary_data ?? {} };
}

const runtime = "Deno" in globalThis
  ? `Deno ${(globalThis as any).Deno.version.deno}`
  : `Bun ${(globalThis as any).Bun?.version}`;
console.log(`document extraction benchmark (${runtime}, ${process.arch}); generating files…`);
const files = {
  firstPdf: await makePdf({ pages: 1 }),
  pdf: await makePdf({ pages: pdfPages }),
  refusedPdf: await makePdf({ pages: refusedPdfPages }),
  docx: await makeDocx({ paragraphs: docxParagraphs }),
  pptx: await makePptx({ slides: pptxSlides }),
  xlsx: await makeXlsx({ rows: xlsxRows }),
};
const mb = (n: number) => n / (1024 * 1024);
const rows: string[][] = [[
  "executor",
  "file",
  "size (inflated)",
  "time",
  "throughput (inflated)",
  "longest event-loop stall",
]];
const inflated = (bytes: Uint8Array) => Object.values(unzipSync(bytes)).reduce((n, f) => n + f.length, 0);
const first = await measure("pdf_extractor", "first.pdf", files.firstPdf);
if (first.result instanceof Error) throw first.result;
rows.push([
  "pdf_extractor",
  "1 page, first PDF (starts pdf.js)",
  `${mb(files.firstPdf.length).toFixed(2)} MiB`,
  `${(first.ms / 1000).toFixed(2)} s`,
  "",
  `${first.maxStallMs.toFixed(0)} ms`,
]);
const pdf = await measure("pdf_extractor", "bench.pdf", files.pdf, { max_pages: Math.max(2000, pdfPages) });
if (pdf.result instanceof Error) throw pdf.result;
rows.push([
  "pdf_extractor",
  `${pdfPages} pages`,
  `${mb(files.pdf.length).toFixed(2)} MiB`,
  `${(pdf.ms / 1000).toFixed(2)} s`,
  `${(pdfPages / (pdf.ms / 1000)).toFixed(0)} pages/s`,
  `${pdf.maxStallMs.toFixed(0)} ms`,
]);
const refused = await measure("pdf_extractor", "refused.pdf", files.refusedPdf);
if (!(refused.result instanceof Error) || !/more than max_pages/.test(refused.result.message)) {
  throw new Error(`the ${refusedPdfPages}-page PDF was not refused: ${String(refused.result)}`);
}
rows.push([
  "pdf_extractor",
  `${refusedPdfPages} pages, refused (max_pages)`,
  `${mb(files.refusedPdf.length).toFixed(2)} MiB`,
  `${(refused.ms / 1000).toFixed(2)} s`,
  "",
  `${refused.maxStallMs.toFixed(0)} ms`,
]);
for (
  const [type, name, bytes, what] of [
    ["word_extractor", "bench.docx", files.docx, `${docxParagraphs} paragraphs`],
    ["powerpoint_extractor", "bench.pptx", files.pptx, `${pptxSlides + 2} slides`],
    ["excel_extractor", "bench.xlsx", files.xlsx, `${xlsxRows + 3} rows x 4 columns`],
  ] as const
) {
  const r = await measure(type, name, bytes);
  if (r.result instanceof Error) throw r.result;
  const xml = inflated(bytes);
  rows.push([
    type,
    what,
    `${mb(bytes.length).toFixed(2)} MiB (${mb(xml).toFixed(1)} MiB)`,
    `${(r.ms / 1000).toFixed(2)} s`,
    `${(mb(bytes.length) / (r.ms / 1000)).toFixed(2)} MB/s (${(mb(xml) / (r.ms / 1000)).toFixed(1)} MB/s)`,
    `${r.maxStallMs.toFixed(0)} ms`,
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const [i, row] of rows.entries()) {
  console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c])).join(" | ")} |`);
  if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
}
console.log(
  `load average after the run: ${
    loadavg().map((l) => l.toFixed(1)).join(", ")
  } (${navigator.hardwareConcurrency} CPUs)`,
);
rmSync(dir, { recursive: true, force: true });
