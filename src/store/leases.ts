// Crawl leases in the locks container: one document per vault, id `vault_<vaultId>_lock`.
//
// Acquire = create (409 → held) or, when the stored lease is released or expired, replace with If-Match
// (412 → another worker won). Every acquisition increments `epoch`, the fencing token carried into enqueued
// tasks and checked by checkpoint writes. Renew and release are If-Match replaces; a 412/404 on renew means the
// lease is lost. Release keeps the document (owner = null) so the epoch never goes backwards.
// Expiry is judged by `expires_at` (the holder's clock; bounded skew between hosts is assumed): Cosmos TTL is
// not relied on (the ContentFlow containers have no defaultTtl and the emulator never expires items).
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { cosmosStatus } from "./cosmos.ts";
import { readDoc } from "./read-doc.ts";

const leaseFields = {
  id: v.string(),
  pipeline_id: v.optional(v.nullable(v.string()), null),
  vault_id: v.optional(v.nullable(v.string()), null),
  /** Python field names, kept so the API/UI can still read the lock. */
  worker_id: v.optional(v.nullable(v.string()), null),
  locked_at: v.optional(v.nullable(v.string()), null),
  ttl: v.optional(v.number()),
  owner: v.optional(v.nullable(v.string()), null),
  epoch: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  expires_at: v.optional(v.nullable(v.string()), null),
  renewed_at: v.optional(v.nullable(v.string()), null),
  released_at: v.optional(v.nullable(v.string()), null),
  /** When a holder last finished a complete crawl (lets other processes skip a vault crawled moments ago). */
  last_crawled_at: v.optional(v.nullable(v.string()), null),
};
export const LeaseDocSchema = v.looseObject({ ...leaseFields, _etag: v.string() });
export type LeaseDoc = v.InferOutput<typeof LeaseDocSchema>;

/** What we write (the system fields `_etag`, `_ts`… are added by Cosmos). */
const LeaseBodySchema = v.object(leaseFields);
type LeaseBody = v.InferOutput<typeof LeaseBodySchema>;

export function leaseId(vaultId: string): string {
  return `vault_${vaultId}_lock`;
}

/** A lease this process holds. `etag` is the version it last wrote; every change is conditional on it. */
export interface Lease {
  id: string;
  vaultId: string;
  pipelineId: string;
  owner: string;
  epoch: number;
  etag: string;
  expiresAt: Date;
  body: LeaseBody;
}

export type AcquireOutcome =
  | { acquired: true; lease: Lease }
  | { acquired: false; holder: string | null; expiresAt: Date | undefined; epoch: number };

export class LeaseLostError extends Error {
  constructor(readonly leaseId: string, reason: string) {
    super(`lease ${leaseId} lost: ${reason}`);
    this.name = "LeaseLostError";
  }
}

export class MalformedLeaseError extends Error {
  constructor(leaseId: string, problems: string) {
    super(`lease document ${leaseId} is malformed: ${problems}`);
    this.name = "MalformedLeaseError";
  }
}

/** When the stored lease stops protecting its holder; undefined = no usable time (treated as expired). */
export function leaseExpiry(doc: LeaseDoc): Date | undefined {
  const explicit = doc.expires_at ? Date.parse(doc.expires_at) : NaN;
  if (!Number.isNaN(explicit)) return new Date(explicit);
  // A lock written without expires_at (Python shape): locked_at + ttl.
  const locked = doc.locked_at ? Date.parse(doc.locked_at) : NaN;
  if (!Number.isNaN(locked) && typeof doc.ttl === "number") return new Date(locked + doc.ttl * 1000);
  return undefined;
}

export function leaseHolder(doc: LeaseDoc): string | null {
  return doc.owner ?? doc.worker_id ?? null;
}

export function isLeaseFree(doc: LeaseDoc, now: number): boolean {
  if (!leaseHolder(doc)) return true;
  const expiry = leaseExpiry(doc);
  return expiry === undefined || expiry.getTime() <= now;
}

export class LeaseStore {
  constructor(
    private readonly container: Container,
    readonly ttlSeconds: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async read(vaultId: string): Promise<LeaseDoc | undefined> {
    const id = leaseId(vaultId);
    const read = await readDoc(this.container, id, LeaseDocSchema);
    if (read.kind === "malformed") throw new MalformedLeaseError(id, read.problem);
    return read.kind === "found" ? read.doc : undefined;
  }

  async acquire(vaultId: string, pipelineId: string, owner: string): Promise<AcquireOutcome> {
    const id = leaseId(vaultId);
    // Bounded: each round either wins, observes a live holder, or saw the document vanish/change under it.
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.read(vaultId);
      if (!current) {
        const body = this.grantBody(id, vaultId, pipelineId, owner, 1);
        try {
          const { resource } = await this.container.items.create(body);
          return { acquired: true, lease: this.toLease(body, resource?._etag) };
        } catch (err) {
          if (cosmosStatus(err) === 409) continue;
          throw err;
        }
      }
      // Our own unexpired lease (e.g. a release that failed) may be taken again: owner ids are unique per process
      // and the caller never runs two crawls of one vault at once.
      if (leaseHolder(current) !== owner && !isLeaseFree(current, this.clock())) {
        return { acquired: false, holder: leaseHolder(current), expiresAt: leaseExpiry(current), epoch: current.epoch };
      }
      const body = this.grantBody(id, vaultId, pipelineId, owner, current.epoch + 1, current);
      try {
        const { resource } = await this.container.item(id, id).replace(body, {
          accessCondition: { type: "IfMatch", condition: current._etag },
        });
        return { acquired: true, lease: this.toLease(body, resource?._etag) };
      } catch (err) {
        const status = cosmosStatus(err);
        if (status === 412 || status === 404) continue;
        throw err;
      }
    }
    const latest = await this.read(vaultId);
    return {
      acquired: false,
      holder: latest ? leaseHolder(latest) : null,
      expiresAt: latest ? leaseExpiry(latest) : undefined,
      epoch: latest?.epoch ?? 0,
    };
  }

  /** Extends the lease by ttl from now. Throws LeaseLostError when someone else changed or removed it. */
  async renew(lease: Lease): Promise<Lease> {
    const now = this.clock();
    const body: LeaseBody = {
      ...lease.body,
      expires_at: new Date(now + this.ttlSeconds * 1000).toISOString(),
      renewed_at: new Date(now).toISOString(),
    };
    try {
      const { resource } = await this.container.item(lease.id, lease.id).replace(body, {
        accessCondition: { type: "IfMatch", condition: lease.etag },
      });
      return this.toLease(body, resource?._etag, lease);
    } catch (err) {
      const status = cosmosStatus(err);
      if (status === 412) throw new LeaseLostError(lease.id, "another worker took it over (etag changed)");
      if (status === 404) throw new LeaseLostError(lease.id, "the lease document was deleted");
      throw err;
    }
  }

  /**
   * Gives the lease up if it is still ours (owner = null, epoch kept). False when it was no longer ours.
   * `crawlCompleted` stamps last_crawled_at.
   */
  async release(lease: Lease, opts: { crawlCompleted?: boolean } = {}): Promise<boolean> {
    const now = new Date(this.clock()).toISOString();
    const body: LeaseBody = {
      ...lease.body,
      owner: null,
      worker_id: null,
      expires_at: null,
      released_at: now,
      last_crawled_at: opts.crawlCompleted ? now : lease.body.last_crawled_at,
    };
    try {
      await this.container.item(lease.id, lease.id).replace(body, {
        accessCondition: { type: "IfMatch", condition: lease.etag },
      });
      return true;
    } catch (err) {
      const status = cosmosStatus(err);
      if (status === 412 || status === 404) return false;
      throw err;
    }
  }

  private grantBody(
    id: string,
    vaultId: string,
    pipelineId: string,
    owner: string,
    epoch: number,
    previous?: LeaseDoc,
  ): LeaseBody {
    const now = this.clock();
    const nowIso = new Date(now).toISOString();
    return {
      id,
      pipeline_id: pipelineId,
      vault_id: vaultId,
      worker_id: owner,
      locked_at: nowIso,
      ttl: this.ttlSeconds,
      owner,
      epoch,
      expires_at: new Date(now + this.ttlSeconds * 1000).toISOString(),
      renewed_at: nowIso,
      released_at: null,
      last_crawled_at: previous?.last_crawled_at ?? null,
    };
  }

  private toLease(body: LeaseBody, etag: string | undefined, previous?: Lease): Lease {
    if (!etag) throw new Error(`Cosmos returned no etag for lease ${body.id}`);
    return {
      id: body.id,
      vaultId: body.vault_id ?? previous?.vaultId ?? "",
      pipelineId: body.pipeline_id ?? previous?.pipelineId ?? "",
      owner: body.owner ?? "",
      epoch: body.epoch,
      etag,
      expiresAt: new Date(Date.parse(body.expires_at ?? "")),
      body,
    };
  }
}
