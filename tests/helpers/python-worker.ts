// What the Python ContentFlow worker does to the locks and checkpoints containers (contentflow-worker
// app/worker/source_worker.py: _acquire_lock, _release_lock, _save_checkpoint), written out step by step so a test
// can play a Python worker beside ours. Documents have exactly the Python shapes.
import type { Container } from "@azure/cosmos";

function status(err: unknown): number | undefined {
  return (err as { code?: number; statusCode?: number })?.code ?? (err as { statusCode?: number })?.statusCode;
}

/** datetime.now(timezone.utc).isoformat(): microseconds and +00:00. */
export function pythonNow(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000+00:00");
}

export function pythonLockDoc(pipelineId: string, vaultId: string | null, workerId: string, lockedAt: Date, ttl = 300) {
  return {
    id: `pipeline_${pipelineId}_lock`,
    pipeline_id: pipelineId,
    vault_id: vaultId,
    worker_id: workerId,
    locked_at: pythonNow(lockedAt),
    ttl,
  };
}

/**
 * _acquire_lock: create the lock; on 409 read it and, when now − locked_at > LOCK_TTL_SECONDS, delete it (no etag)
 * and try again; otherwise the pipeline is locked by someone else.
 */
export async function pythonAcquireLock(
  locks: Container,
  pipelineId: string,
  vaultId: string | null,
  workerId: string,
  lockTtlSeconds = 300,
): Promise<boolean> {
  const doc = pythonLockDoc(pipelineId, vaultId, workerId, new Date(), lockTtlSeconds);
  for (let depth = 0; depth < 5; depth++) {
    try {
      await locks.items.create(doc);
      return true;
    } catch (err) {
      if (status(err) !== 409) return false;
    }
    const { resource } = await locks.item(doc.id, doc.id).read();
    if (!resource) continue;
    const age = (Date.now() - Date.parse(String(resource.locked_at))) / 1000;
    if (age > lockTtlSeconds) {
      await locks.item(doc.id, doc.id).delete().catch(() => undefined);
      continue;
    }
    return false;
  }
  return false;
}

/** _release_lock: read the lock and delete it when worker_id is ours. */
export async function pythonReleaseLock(locks: Container, pipelineId: string, workerId: string): Promise<boolean> {
  const id = `pipeline_${pipelineId}_lock`;
  const { resource } = await locks.item(id, id).read();
  if (resource?.worker_id !== workerId) return false;
  await locks.item(id, id).delete();
  return true;
}

/** _save_checkpoint: upsert {id: <pipeline>_<executor>, …, checkpoint_timestamp: crawl start}. */
export async function pythonSaveCheckpoint(
  checkpoints: Container,
  pipelineId: string,
  vaultId: string | null,
  executorId: string,
  at: Date,
  workerId = "InputSourceWorker-0",
): Promise<void> {
  await checkpoints.items.upsert({
    id: `${pipelineId}_${executorId}`,
    pipeline_id: pipelineId,
    vault_id: vaultId,
    executor_id: executorId,
    checkpoint_timestamp: pythonNow(at),
    worker_id: workerId,
  });
}
