// PLACEHOLDER: owned by the source helper; replaced before landing.
import type { WorkerContext } from "./context.ts";

export interface SourceOnceSummary {
  vaults: number;
  items_discovered: number;
  tasks_queued: number;
  errors: string[];
}

/** Runs the scheduler loop until ctx.drain is aborted; releases held leases before returning. */
export async function runSourceWorker(_ctx: WorkerContext): Promise<void> {
  throw new Error("source worker is not built yet");
}

/** One crawl of every enabled vault (or just `vaultId`), honouring leases. */
export async function runSourceOnce(_ctx: WorkerContext, _opts: { vaultId?: string }): Promise<SourceOnceSummary> {
  throw new Error("source worker is not built yet");
}
