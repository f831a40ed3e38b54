// Entry point of the PDF thread (started by pdf-thread.ts; a second entry point of the compiled binary, see
// scripts/build.mjs): loads pdf.js and says it is ready, then extracts one PDF per message with pdf.ts and answers
// with the result or the error's message.
// Stopping a running extraction is the parent's business: it terminates the thread.
import { parentPort } from "node:worker_threads";
import { getResolvedPDFJS } from "unpdf";
import { extractPdf, type PdfJob, type PdfReply } from "./pdf.ts";
import { DocumentError, Pacer } from "./limits.ts";

const port = parentPort;
if (port === null) throw new Error("pdf-worker.ts runs as a worker thread (see pdf-thread.ts)");

port.on("message", async (job: PdfJob) => {
  let reply: PdfReply;
  try {
    reply = {
      ok: true,
      result: await extractPdf(job.bytes, job.what, new Pacer(new AbortController().signal), job.opts),
    };
  } catch (err) {
    reply = {
      ok: false,
      document: err instanceof DocumentError,
      message: err instanceof Error ? err.message : String(err),
    };
  }
  port.postMessage(reply);
});

// pdf.js is loaded before the first job and the parent told so: it measures an extraction's memory from then on,
// without the thread's own start-up.
await getResolvedPDFJS();
port.postMessage({ ready: true });
