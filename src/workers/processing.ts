// PLACEHOLDER: owned by the processing helper; replaced before landing.
import type { WorkerContext } from "./context.ts";

/** Runs the processing loop until ctx.drain is aborted and in-flight tasks are finished or released. */
export async function runProcessingWorker(_ctx: WorkerContext): Promise<void> {
  throw new Error("processing worker is not built yet");
}
