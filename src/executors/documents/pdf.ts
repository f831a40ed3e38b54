// PDF extraction with pdf.js (the serverless build bundled in unpdf: no pdf.js worker file, no native canvas, works
// in the compiled binary). Text per page (lines end with "\n" as PyMuPDF's get_text()), page sizes after rotation,
// and optionally the page images as PNG. Page count is checked against a cap before any page is read.
//
// This runs on a thread of its own (pdf-worker.ts, started by pdf-thread.ts): opening a document is one synchronous
// stretch inside pdf.js that grows with the page count (about 2 s for 10,000 pages), which yields between pages
// cannot break up, and the worker's event loop must keep renewing queue leases meanwhile.
import { getResolvedPDFJS } from "unpdf";
import { raceAbort } from "../../util/abort.ts";
import { DocumentError, type Pacer } from "./limits.ts";
import { encodePng } from "./png.ts";

export interface PdfPage {
  number: number;
  width: number;
  height: number;
  text: string;
}

export interface PdfImage {
  pageNumber: number;
  /** Position in the page's list of images (small ones skipped still count, as in PyMuPDF's get_images()). */
  index: number;
  width: number;
  height: number;
  png: Uint8Array;
}

export interface PdfOptions {
  maxPages: number;
  images?: { minSize: number; maxImages: number };
}

export interface PdfResult {
  pageCount: number;
  pages: PdfPage[];
  images: PdfImage[];
}

/** A PDF to extract, sent to the PDF thread (`bytes` is transferred). */
export interface PdfJob {
  bytes: Uint8Array;
  /** Names the document in error messages ("PDF 'a.pdf'"). */
  what: string;
  opts: PdfOptions;
}

/** The PDF thread's answer; `document` tells a DocumentError (bad file) from a failure of ours. */
export type PdfReply = { ok: true; result: PdfResult } | { ok: false; document: boolean; message: string };

/** Largest image pdf.js decodes (pixels); larger ones are skipped instead of exhausting memory. */
const MAX_IMAGE_PIXELS = 40_000_000;

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string };
  if (e?.name === "PasswordException") return "password-protected (encrypted) PDF";
  if (e?.name === "InvalidPDFException") return `not a valid PDF (${e.message ?? "corrupt or truncated"})`;
  return e?.message || String(err);
}

export async function extractPdf(
  bytes: Uint8Array,
  what: string,
  pacer: Pacer,
  opts: PdfOptions,
): Promise<PdfResult> {
  const head = new TextDecoder().decode(bytes.subarray(0, 1024));
  if (!head.includes("%PDF-")) throw new DocumentError(`${what}: not a PDF file (no %PDF- header)`);
  const pdfjs = await getResolvedPDFJS();
  const task = pdfjs.getDocument({
    data: bytes.slice(),
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    useWasm: false,
    useWorkerFetch: false,
    useSystemFonts: false,
    disableFontFace: true,
    stopAtErrors: false,
    maxImageSize: MAX_IMAGE_PIXELS,
    verbosity: 0,
  });
  const onAbort = () => void task.destroy();
  pacer.signal.addEventListener("abort", onAbort, { once: true });
  try {
    let pdf;
    try {
      pdf = await raceAbort(task.promise, pacer.signal);
    } catch (err) {
      if (pacer.signal.aborted) throw err;
      throw new DocumentError(`${what}: ${describe(err)}`);
    }
    const pageCount = pdf.numPages;
    if (pageCount > opts.maxPages) {
      throw new DocumentError(`${what} has ${pageCount} pages, more than max_pages ${opts.maxPages}`);
    }
    const pages: PdfPage[] = [];
    const images: PdfImage[] = [];
    for (let n = 1; n <= pageCount; n++) {
      await pacer.yieldNow();
      try {
        const page = await raceAbort(pdf.getPage(n), pacer.signal);
        const viewport = page.getViewport({ scale: 1 });
        const content = await raceAbort(page.getTextContent(), pacer.signal);
        let text = "";
        for (const item of content.items) {
          if (!("str" in item)) continue;
          text += item.str;
          if (item.hasEOL) text += "\n";
        }
        if (text !== "" && !text.endsWith("\n")) text += "\n";
        pages.push({ number: n, width: viewport.width, height: viewport.height, text });
        if (opts.images && images.length < opts.images.maxImages) {
          images.push(...await pageImages(pdfjs, page, n, opts.images.minSize, pacer));
        }
        page.cleanup();
      } catch (err) {
        if (pacer.signal.aborted || err instanceof DocumentError) throw err;
        throw new DocumentError(`${what}: page ${n}: ${describe(err)}`);
      }
    }
    return { pageCount, pages, images: opts.images ? images.slice(0, opts.images.maxImages) : images };
  } finally {
    pacer.signal.removeEventListener("abort", onAbort);
    await task.destroy().catch(() => undefined);
  }
}

interface PdfjsImage {
  width?: number;
  height?: number;
  data?: Uint8Array | Uint8ClampedArray;
}

async function pageImages(
  // deno-lint-ignore no-explicit-any
  pdfjs: any,
  // deno-lint-ignore no-explicit-any
  page: any,
  pageNumber: number,
  minSize: number,
  pacer: Pacer,
): Promise<PdfImage[]> {
  const ops = await raceAbort(page.getOperatorList(), pacer.signal) as { fnArray: number[]; argsArray: unknown[][] };
  const out: PdfImage[] = [];
  let index = -1;
  const seen = new Set<string>();
  for (let i = 0; i < ops.fnArray.length; i++) {
    if (ops.fnArray[i] !== pdfjs.OPS.paintImageXObject) continue;
    const key = ops.argsArray[i][0] as string;
    if (seen.has(key)) continue;
    seen.add(key);
    index++;
    const objs = key.startsWith("g_") ? page.commonObjs : page.objs;
    const image = await raceAbort(
      new Promise<PdfjsImage | undefined>((resolve) => objs.get(key, resolve)),
      pacer.signal,
    );
    const { width = 0, height = 0, data } = image ?? {};
    if (!data || !width || !height) continue;
    if (width < minSize && height < minSize) continue;
    const channels = data.length / (width * height);
    if (channels !== 1 && channels !== 3 && channels !== 4) continue;
    out.push({ pageNumber, index, width, height, png: encodePng(width, height, channels, data) });
    await pacer.tick();
  }
  return out;
}
