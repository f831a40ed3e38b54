// Keeps the claims on poison records that a command has read but not handled yet, for as long as the command runs
// (a claim: the record received by the command, so invisible to others, until the command settles or releases it).
//
// Why renew rather than claim page by page: a storage queue can only be read by receiving, and a command has to read
// the whole queue before it knows what its filters select and how many there are. Records it leaves alone (not
// selected, or not handled because of an error) must stay invisible until that read is over, or the next page
// would receive them again. So `poison requeue` reads everything first, and this keeper renews, in the background,
// every claim that has less than half its length left, until the command takes the record to handle it; a record
// taken gets a fresh claim first if its own is short. No record's claim runs out while it waits, however long the
// re-drive takes; a command killed half way leaves the rest claimed for at most one claim length.
import type { PoisonEntry, PoisonQueue } from "./poison-queue.ts";
import { eachLimited } from "../util/each-limited.ts";

export interface ClaimKeeperOptions {
  claimSeconds: number;
  /** Renewals in flight at once (default 16). */
  concurrency?: number;
}

export class PoisonClaimKeeper {
  private readonly waiting = new Set<PoisonEntry>();
  private readonly renewing = new Map<PoisonEntry, Promise<void>>();
  private timer?: ReturnType<typeof setInterval>;
  private ticking?: Promise<void>;
  /** Claims renewed so far (in the background and on take). */
  renewed = 0;
  /** Renewals that failed: such a record may become visible before it is handled. */
  failed = 0;

  constructor(private readonly queue: PoisonQueue, private readonly opts: ClaimKeeperOptions) {}

  private get claimMs(): number {
    return this.opts.claimSeconds * 1000;
  }

  /** Records just received: their claims are kept from now on (pass as `onPage` to PoisonQueue.scan). */
  keep = (entries: PoisonEntry[]): void => {
    for (const e of entries) this.waiting.add(e);
    // A quarter of the claim between checks, so that a claim found with half its length left is renewed in time.
    this.timer ??= setInterval(() => void this.tick(), Math.min(this.claimMs / 4, 15_000));
  };

  /** Whether `entry`'s claim has less than half its length left. */
  private short(entry: PoisonEntry): boolean {
    return entry.claimEndsAt - Date.now() < this.claimMs / 2;
  }

  private async renew(entry: PoisonEntry): Promise<void> {
    try {
      await this.queue.renew(entry, this.opts.claimSeconds);
      this.renewed++;
    } catch {
      // Not fatal: the record may be seen by others before it is handled, and the re-drive ids keep its task from
      // running twice (store/redrive.ts). Counted, so the command can say so.
      this.failed++;
    }
  }

  /** Renews the short claims of records still waiting (one pass at a time). */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      try {
        const due = [...this.waiting].filter((e) => this.short(e));
        await eachLimited(due, this.opts.concurrency ?? 16, async (e) => {
          if (!this.waiting.has(e)) return;
          const renewal = this.renew(e);
          this.renewing.set(e, renewal);
          await renewal;
          this.renewing.delete(e);
        });
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  /**
   * Hands `entry` over to the caller, who will settle or release it: it is no longer renewed here. Waits for a
   * renewal in flight (its pop receipt changes) and renews first when less than half a claim is left.
   */
  async take(entry: PoisonEntry): Promise<void> {
    this.waiting.delete(entry);
    await this.renewing.get(entry);
    if (this.short(entry)) await this.renew(entry);
  }

  /** Stops renewing; waits for the renewals in flight, so that every entry's pop receipt is current. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.waiting.clear();
    await this.ticking;
  }
}
