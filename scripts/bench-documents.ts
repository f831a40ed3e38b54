// Document extraction benchmark: generates a PDF, a Word document, a PowerPoint deck and an Excel workbook
// (tests/helpers/documents.ts), runs each through its executor once (document in a temp file, as
// content_retriever leaves it) and prints pages/s for the PDF, MB/s for the Office files (of the file, and of the
// XML it inflates to), and the longest time the event loop was kept from running a 10 ms timer meanwhile. One run,
// no assertions.
//
//   deno run -A scripts/bench-documents.ts [--pdf-pages N] [--docx-paragraphs N] [--pptx-slides N] [--xlsx-rows N]
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
    "usage: deno run -A scripts/bench-documents.ts [--pdf-pages N] [--docx-paragraphs N] [--pptx-slides N] [--xlsx-rows N]",
  );
  process.exit(0);
}
const pdfPages = intFlag(args, "--pdf-pages", 500);
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

async function measure(type: string, name: string, bytes: Uint8Array, settings: Record<string, unknown> = {}) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const executor = createExecutor({ id: "bench", type, settings }, registry, { config, logger });
  const item = {
    id: { canonical_id: name, unique_id: name, filename: name },
    data: { temp_file_path: path },
    summary_data: {},
    executor_logs: [],
  };
  const run = await withStallMeter(() =>
    executor.process([item], {
      executorId: "bench",
      pipelineName: "bench",
      signal: new AbortController().signal,
      logger,
    })
  );
  return { ...run, summary: run.result[0].summary_data ?? {} };
}

const runtime = "Deno" in globalThis
  ? `Deno ${(globalThis as any).Deno.version.deno}`
  : `Bun ${(globalThis as any).Bun?.version}`;
console.log(`document extraction benchmark (${runtime}, ${process.arch}); generating files…`);
const files = {
  pdf: await makePdf({ pages: pdfPages }),
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
const pdf = await measure("pdf_extractor", "bench.pdf", files.pdf);
rows.push([
  "pdf_extractor",
  `${pdfPages} pages`,
  `${mb(files.pdf.length).toFixed(2)} MiB`,
  `${(pdf.ms / 1000).toFixed(2)} s`,
  `${(pdfPages / (pdf.ms / 1000)).toFixed(0)} pages/s`,
  `${pdf.maxStallMs.toFixed(0)} ms`,
]);
for (
  const [type, name, bytes, what] of [
    ["word_extractor", "bench.docx", files.docx, `${docxParagraphs} paragraphs`],
    ["powerpoint_extractor", "bench.pptx", files.pptx, `${pptxSlides + 2} slides`],
    ["excel_extractor", "bench.xlsx", files.xlsx, `${xlsxRows + 3} rows x 4 columns`],
  ] as const
) {
  const r = await measure(type, name, bytes);
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
