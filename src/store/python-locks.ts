// The Python ContentFlow worker's crawl lock, `pipeline_<pipeline_id>_lock` in the locks container
// ({pipeline_id, vault_id, worker_id, locked_at, ttl}), so that in a mixed fleet or during a rolling swap only one
// worker crawls a pipeline's vaults:
// - a Python lock that is still live (locked_at + ttl in the future) keeps us from crawling any vault of that
//   pipeline (the emulator and ContentFlow's containers have no TTL, so the fields are read, not Cosmos expiry);
// - while we crawl we hold the same document with our owner id, refreshing locked_at on every lease renewal, so a
//   Python worker's create gets 409 and its staleness check (now − locked_at > LOCK_TTL_SECONDS) finds it fresh;
// - on release we delete it, as the Python worker does, so a Python worker can take the pipeline at once.
// Every change is conditional on the etag we last saw. A Python worker deletes a lock it judges stale without an
// etag; if it deletes ours, our next refresh gets 404 and the crawl stops (lease lost) rather than run beside it.
// Our own per-vault lease (leases.ts, fencing epoch) is unchanged and still taken first.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { cosmosStatus } from "./cosmos.ts";
import { LeaseLostError } from "./leases.ts";
import { parsePythonTime, pythonIsoTime } from "../util/python-time.ts";
import { readDoc } from "./read-doc.ts";

export function pythonLockId(pipelineId: string): string {
  return `pipeline_${pipelineId}_lock`;
}

export const PythonLockDocSchema = v.looseObject({
  id: v.string(),
  pipeline_id: v.optional(v.nullable(v.string()), null),
  vault_id: v.optional(v.nullable(v.string()), null),
  worker_id: v.optional(v.nullable(v.string()), null),
  locked_at: v.optional(v.nullable(v.string()), null),
  ttl: v.optional(v.nullable(v.number()), null),
  _etag: v.string(),
});
export type PythonLockDoc = v.InferOutput<typeof PythonLockDocSchema>;

/** When the lock stops protecting its holder: locked_at + ttl (the store's TTL when the document has none). */
export function pythonLockExpiry(doc: PythonLockDoc, defaultTtlSeconds: number): Date | undefined {
  const locked = parsePythonTime(doc.locked_at);
  if (!locked) return undefined;
  return new Date(locked.getTime() + (doc.ttl ?? defaultTtlSeconds) * 1000);
}

export interface PythonLock {
  id: string;
  pipelineId: string;
  vaultId: string;
  owner: string;
  etag: string;
}

export type PythonLockOutcome =
  | { acquired: true; lock: PythonLock }
  | { acquired: false; holder: string | null; expiresAt: Date | undefined };

export class PythonLockStore {
  constructor(
    private readonly container: Container,
    readonly ttlSeconds: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async read(pipelineId: string): Promise<PythonLockDoc | undefined> {
    const id = pythonLockId(pipelineId);
    const read = await readDoc(this.container, id, PythonLockDocSchema);
    if (read.kind === "malformed") throw new Error(`lock document ${id} is malformed: ${read.problem}`);
    return read.kind === "found" ? read.doc : undefined;
  }

  /**
   * The live holder, or undefined when the pipeline is free for `owner` crawling `vaultId`. Our own lock for another
   * vault of the pipeline counts as held: one crawl per pipeline, as long as the Python lock is in play.
   */
  liveHolder(
    doc: PythonLockDoc | undefined,
    owner: string,
    vaultId: string,
  ): { holder: string | null; expiresAt?: Date } | undefined {
    if (!doc) return undefined;
    if (doc.worker_id === owner && doc.vault_id === vaultId) return undefined;
    const expiry = pythonLockExpiry(doc, this.ttlSeconds);
    // A lock without a readable time counts as held until our TTL passes from when Cosmos last wrote it.
    if (!expiry) {
      const ts = (doc as { _ts?: number })._ts;
      const until = typeof ts === "number" ? new Date((ts + this.ttlSeconds) * 1000) : undefined;
      return until && until.getTime() > this.clock() ? { holder: doc.worker_id ?? null, expiresAt: until } : undefined;
    }
    return expiry.getTime() > this.clock() ? { holder: doc.worker_id ?? null, expiresAt: expiry } : undefined;
  }

  private body(pipelineId: string, vaultId: string, owner: string): Record<string, unknown> {
    return {
      id: pythonLockId(pipelineId),
      pipeline_id: pipelineId,
      vault_id: vaultId,
      worker_id: owner,
      locked_at: pythonIsoTime(new Date(this.clock())),
      ttl: this.ttlSeconds,
    };
  }

  /** Takes the pipeline's lock unless someone else holds it live. */
  async acquire(pipelineId: string, vaultId: string, owner: string): Promise<PythonLockOutcome> {
    const id = pythonLockId(pipelineId);
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.read(pipelineId);
      const held = this.liveHolder(current, owner, vaultId);
      if (held) return { acquired: false, ...held, expiresAt: held.expiresAt };
      try {
        const { resource } = current
          ? await this.container.item(id, id).replace(this.body(pipelineId, vaultId, owner), {
            accessCondition: { type: "IfMatch", condition: current._etag },
          })
          : await this.container.items.create(this.body(pipelineId, vaultId, owner));
        if (!resource?._etag) throw new Error(`Cosmos returned no etag for lock ${id}`);
        return { acquired: true, lock: { id, pipelineId, vaultId, owner, etag: resource._etag } };
      } catch (err) {
        const status = cosmosStatus(err);
        if (status === 409 || status === 412 || status === 404) continue;
        throw err;
      }
    }
    const latest = await this.read(pipelineId);
    return {
      acquired: false,
      holder: latest?.worker_id ?? null,
      expiresAt: latest ? pythonLockExpiry(latest, this.ttlSeconds) : undefined,
    };
  }

  /** Moves locked_at to now. Throws LeaseLostError when the document changed or vanished (a Python takeover). */
  async refresh(lock: PythonLock): Promise<PythonLock> {
    try {
      const { resource } = await this.container.item(lock.id, lock.id).replace(
        this.body(lock.pipelineId, lock.vaultId, lock.owner),
        { accessCondition: { type: "IfMatch", condition: lock.etag } },
      );
      return { ...lock, etag: resource?._etag ?? lock.etag };
    } catch (err) {
      const status = cosmosStatus(err);
      if (status === 412) throw new LeaseLostError(lock.id, "another worker took the pipeline's lock");
      if (status === 404) {
        throw new LeaseLostError(lock.id, "the pipeline's lock was deleted (a Python worker judged it stale)");
      }
      throw err;
    }
  }

  /** Deletes the lock if it is still ours, as the Python worker releases. False when it no longer was. */
  async release(lock: PythonLock): Promise<boolean> {
    try {
      await this.container.item(lock.id, lock.id).delete({
        accessCondition: { type: "IfMatch", condition: lock.etag },
      });
      return true;
    } catch (err) {
      const status = cosmosStatus(err);
      if (status === 412 || status === 404) return false;
      throw err;
    }
  }
}
