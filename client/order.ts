/**
 * An order session: this device's part in one order's encrypted conversation.
 *
 * Sending: validate the body (messages.ts), pick the scope, check the policy
 * locally, make or rotate the sender key for (epoch, scope) — before the first
 * message, after N messages or T time, on every roster change — queue its key
 * packages, seal, and store the envelope in the outbox. `send` resolves once the
 * message is durable on this device; `acked` once the relay has it durably.
 *
 * Receiving: the inbox releases each delivered message once, in sequence order;
 * the session opens it (roster of its epoch, sender key, signature, policy,
 * replay window, body schema) and hands it to the application, or raises a
 * typed warning instead. Delivery contract: once the `message` listeners and
 * iterators got a message, its sequence is persisted (writes coalesced during a
 * burst) and then acknowledged; not persisted means delivered again after a
 * restart.
 */
import {
  ChainTracker,
  OutboundSenderKey,
  ReceiverState,
  createKeyPackages,
  deviceStorageKey,
  mayPublish,
  needsRotation,
  openState,
  sealEnvelope,
  sealState,
  senderChainKey,
  type DeviceKeys,
  type Role,
  type SenderKeyRotation,
  type VerifiedRoster,
} from '../crypto/index.ts';
import { MAX_KEY_PACKAGES_PER_PUT, type DeliveredMessage } from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import type { Connection } from './connection.ts';
import { Emitter } from './emitter.ts';
import { SealRelayError } from './errors.ts';
import type { Inbox } from './inbox.ts';
import { defaultScope, encodeBody, type MessageBody, type MessageKind } from './messages.ts';
import { chainWarning, type OrderEvents, type OrderWarning, type ReceivedMessage, type SendOptions, type SentMessage } from './order-types.ts';
import { MessageStream } from './message-stream.ts';
import { installKeyPackages, openDelivered, type KeyFetcher } from './open.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';
import { ReadCursor } from './read-cursor.ts';
import { RosterSync, type RosterFetcher } from './roster-sync.ts';
import type { SelfKeys } from './self-keys.ts';
import { getJson, setJson, type ClientStorage } from './storage/types.ts';

export type { OrderEvents, OrderWarning, ReceivedMessage, SendOptions, SentMessage, Sender } from './order-types.ts';
import { wire } from './bytes.ts';

/** What a session needs from its client. */
export interface OrderContext {
  readonly keys: DeviceKeys;
  readonly trustedAuthorities: readonly Uint8Array[];
  readonly connection: Connection;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly storage: ClientStorage;
  readonly selfKeys: SelfKeys;
  readonly clock: Clock;
  readonly rotation: SenderKeyRotation;
  readonly ackDelayMs: number;
  /** New outbox entries: send what is due. */
  pump(): void;
  /** The session ended (closed or removed). */
  forget(order: string): void;
}

export class OrderSession extends Emitter<OrderEvents> {
  private readonly outbound = new Map<string, OutboundSenderKey>();
  /** Plaintext of unacknowledged sends, in memory only: lets EPOCH_STALE re-seal without persisting plaintext. */
  private readonly unacked = new Map<string, { kind: MessageKind; body: unknown; scope: string; resolve: (seq: number) => void; reject: (e: Error) => void }>();
  private readonly stream = new MessageStream<ReceivedMessage>();
  private readonly rejectedPackages = new Set<string>();
  private readonly chainsSeen = new Set<string>();
  /** True when this session started after sequence 0 (a restart) or skipped trimmed history. */
  private resumedMidHistory = false;
  private sendLock: Promise<unknown> = Promise.resolve();
  private processing: Promise<void> = Promise.resolve();
  private subscribing = false;
  private backfillWanted = false;
  private readonly cursor: ReadCursor;
  private ended = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly orderId: string,
    private readonly ctx: OrderContext,
    private readonly rosters: RosterSync,
    /** Restored from storage (sealed): replay window and chain links survive a restart. */
    private readonly receiver: ReceiverState,
    private readonly tracker: ChainTracker,
    private readonly storageKey: Uint8Array,
  ) {
    super();
    this.cursor = new ReadCursor({
      inbox: ctx.inbox,
      order: orderId,
      clock: ctx.clock,
      ackDelayMs: ctx.ackDelayMs,
      // Mid-(re)subscription the relay has nothing to ack against; the next write acks.
      sendAck: (seq) => !this.ended && !this.subscribing && ctx.connection.send({ t: 'ack', order: orderId, seq }),
      onError: (e) => this.warn({ code: 'STORAGE_FAILED', message: `could not persist the read position: ${e.message}` }),
    });
  }

  /** @internal use SealRelayClient.openOrder() */
  static async open(orderId: string, ctx: OrderContext, opts: { afterSeq?: number } = {}): Promise<OrderSession> {
    const rosters = await RosterSync.load(orderId, rosterFetcher(ctx.connection, orderId), ctx.storage, ctx.trustedAuthorities, ctx.clock.now());
    // A removal this device learned sticks, like the roster pin: a removed device is never
    // shown the roster that removed it, so the chain it is served would look as if nothing
    // happened. Only a verified roster of a later epoch that lists it again (re-added) clears it.
    const removedAt = await getJson(ctx.storage, removedKey(orderId));
    if (typeof removedAt === 'number') {
      if (rosters.head.epoch < removedAt || !rosters.head.memberByDevice(ctx.keys.deviceId)) {
        throw new SealRelayError('MEMBER_REMOVED', `this device was removed from ${orderId} at epoch ${removedAt}`);
      }
      await ctx.storage.delete(removedKey(orderId));
    }
    if (!rosters.head.memberByDevice(ctx.keys.deviceId)) throw new SealRelayError('NOT_A_MEMBER', `this device is not in epoch ${rosters.head.epoch} of ${orderId}`);
    await ctx.inbox.open(orderId);
    if (opts.afterSeq !== undefined) await ctx.inbox.seek(orderId, opts.afterSeq);
    // Restored BEFORE self keys and key packages are installed: a fresh ReceiverState would
    // accept every envelope handed out before the restart again (replay by the relay).
    const storageKey = deviceStorageKey(ctx.keys);
    const restored = await restoreReceiver(ctx.storage, storageKey, orderId);
    const session = new OrderSession(orderId, ctx, rosters, restored.receiver, restored.tracker, storageKey);
    if (restored.problem) {
      const problem = restored.problem;
      ctx.clock.setTimeout(() => session.warn({ code: 'STATE_RESET', message: problem }), 0);
    }
    session.resumedMidHistory = ctx.inbox.resumeAfter(orderId) > 0;
    for (const own of await ctx.selfKeys.load(orderId)) session.receiver.install(own);
    await session.fetchKeys();
    return session;
  }

  /** The current verified roster. */
  get roster(): VerifiedRoster {
    return this.rosters.head;
  }

  /** This device's role in the current epoch. */
  get role(): Role | undefined {
    return this.rosters.head.memberByDevice(this.ctx.keys.deviceId)?.role;
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * Send a typed message. Resolves once it is stored in the outbox (it will reach
   * the relay, across reconnects and restarts); `acked` resolves with its seq.
   * Throws SealRelayError INVALID_MESSAGE, POLICY_DENIED or ORDER_CLOSED; nothing is sent then.
   * @example const { acked } = await order.send('status', { status: 'picked_up' }); await acked;
   */
  send<K extends MessageKind>(kind: K, body: MessageBody<K>, opts: SendOptions = {}): Promise<SentMessage> {
    let bytes: Uint8Array;
    try {
      bytes = encodeBody(kind, body);
    } catch (e) {
      return Promise.reject(new SealRelayError('INVALID_MESSAGE', `${kind}: ${(e as Error).message.slice(0, 300)}`, { cause: e }));
    }
    const scope = opts.scope ?? defaultScope(kind, body);
    const run = this.sendLock.then(() => this.sealAndStore(kind, body, bytes, scope));
    this.sendLock = run.catch(() => undefined);
    return run;
  }

  /**
   * Messages from now on, in sequence order, as an async iterator (each iterator gets every message).
   * @example for await (const m of order.messages()) if (m.kind === 'status') show(m.body.status);
   */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    return this.stream.iterator();
  }

  /** Stop following the order (its outbox entries are still sent). Resolves once the read position is durable. */
  close(): Promise<void> {
    if (this.ended) return this.cursor.flushed();
    if (!this.closing) {
      this.ctx.connection.send({ t: 'unsub', order: this.orderId });
      // Nothing new is taken; what was already released is handed over, its receiver
      // state saved and its sequence committed (in that order), then the session stops.
      this.closing = this.processing.then(() => {
        if (!this.ended) this.stop();
        return this.cursor.flushed();
      });
    }
    return this.closing;
  }

  // ------------------------------------------------------------ sending

  private async sealAndStore(kind: MessageKind, body: unknown, bytes: Uint8Array, scope: string): Promise<SentMessage> {
    if (this.ended) throw new SealRelayError('ORDER_CLOSED');
    const head = this.rosters.head;
    const me = head.memberByDevice(this.ctx.keys.deviceId);
    if (!me) throw new SealRelayError('NOT_A_MEMBER', `this device is not in epoch ${head.epoch}`);
    if (!mayPublish(head.policy, me.role, kind, scope)) {
      throw new SealRelayError('POLICY_DENIED', `a ${me.role} may not send ${kind} into ${scope} under policy ${head.policyId}`);
    }
    const now = this.ctx.clock.now();
    const key = await this.senderKeyFor(scope, head, now);
    const envelope = sealEnvelope({ senderKey: key, sender: this.ctx.keys, kind, body: bytes, roster: head });
    const entry = await this.ctx.outbox.add(this.orderId, envelope, now, { kind, epoch: head.epoch, scope });
    const acked = new Promise<number>((resolve, reject) => this.unacked.set(entry.clientMsgId, { kind, body, scope, resolve, reject }));
    acked.catch(() => undefined); // an application that ignores `acked` must not see an unhandled rejection
    this.ctx.pump();
    return { clientMsgId: entry.clientMsgId, scope, epoch: head.epoch, acked };
  }

  /** The sender key for (current epoch, scope), rotated when due; its key packages are queued first. */
  private async senderKeyFor(scope: string, head: VerifiedRoster, now: number): Promise<OutboundSenderKey> {
    const current = this.outbound.get(scope);
    if (current && !needsRotation(current, now, { epoch: head.epoch, rule: this.ctx.rotation })) return current;
    current?.wipe();
    const key = OutboundSenderKey.create({ orderId: this.orderId, epoch: head.epoch, scope, senderDeviceId: this.ctx.keys.deviceId, now });
    // Our own messages come back in the sequence too; install the chain so we can open them like anyone's.
    const { chainKey, index } = key.snapshot();
    const own = { orderId: this.orderId, epoch: head.epoch, scope, senderDeviceId: this.ctx.keys.deviceId, senderKeyId: key.senderKeyId, startIndex: index, chainKey };
    this.receiver.install(own);
    // Stored before anything sealed with it exists, so a restarted process can open its own messages.
    await this.ctx.selfKeys.save(own);
    const packages = createKeyPackages(key, this.ctx.keys, head).map((p) => p.bytes);
    for (let i = 0; i < packages.length; i += MAX_KEY_PACKAGES_PER_PUT) {
      await this.ctx.outbox.addKeyPackages(this.orderId, packages.slice(i, i + MAX_KEY_PACKAGES_PER_PUT), now, { epoch: head.epoch, scope });
    }
    this.outbound.set(scope, key);
    return key;
  }

  /** @internal the relay stored a publish of this order. */
  onAcked(clientMsgId: string, seq: number): void {
    this.unacked.get(clientMsgId)?.resolve(seq);
    this.unacked.delete(clientMsgId);
  }

  /** @internal the relay refused a publish for good; EPOCH_STALE is re-sealed for the new epoch when we still hold the plaintext. */
  async onPublishRejected(entry: OutboxEntry, code: string, message: string): Promise<void> {
    const held = this.unacked.get(entry.clientMsgId);
    this.unacked.delete(entry.clientMsgId);
    if (code === 'EPOCH_STALE' && held && !this.ended) {
      await this.refreshRosters();
      try {
        const again = await this.send(held.kind, held.body as never, { scope: held.scope });
        again.acked.then(held.resolve, held.reject);
        return;
      } catch (e) {
        held.reject(e as Error);
        return;
      }
    }
    // Key packages of an epoch that has since ended are refused by design; the envelopes they
    // unlocked are refused as EPOCH_STALE and re-sealed above, so this is not worth a warning.
    if (entry.type === 'kp' && code === 'KEY_PACKAGE_INVALID' && !this.ended) {
      await this.refreshRosters();
      if (Number(entry.meta?.epoch ?? 0) < this.rosters.head.epoch) return;
    }
    const err = new SealRelayError(code, message);
    held?.reject(err);
    this.warn({ code: 'PUBLISH_FAILED', message: `${entry.type === 'pub' ? `message ${entry.clientMsgId}` : 'key packages'} refused by the relay: ${code}: ${message}` });
  }

  // ------------------------------------------------------------ receiving

  /** @internal (re)subscribe from the last released sequence; called on every welcome. */
  resubscribe(): void {
    if (this.ended || this.closing) return;
    if (this.subscribing) {
      this.backfillWanted = true;
      return;
    }
    this.subscribing = true;
    this.backfillWanted = false;
    const afterSeq = this.ctx.inbox.resumeAfter(this.orderId);
    this.ctx.connection
      .request({ t: 'sub', rid: 0, order: this.orderId, afterSeq }, ['subscribed'])
      .then(
        // A roster change while we were away arrives as no push: the relay says its epoch here.
        (f) => (f.epoch > this.rosters.head.epoch ? this.refreshRosters() : undefined),
        (e: unknown) => this.onSubscribeFailed(e),
      )
      .finally(() => {
        this.subscribing = false;
        if (this.backfillWanted) this.resubscribe();
      });
  }

  private async onSubscribeFailed(e: unknown): Promise<void> {
    if (!(e instanceof SealRelayError)) return;
    if (e.code === 'HISTORY_TRIMMED' && e.oldestSeq !== undefined) {
      const skipped = await this.ctx.inbox.skipTo(this.orderId, e.oldestSeq);
      this.resumedMidHistory = true;
      this.warn({ code: 'HISTORY_TRIMMED', message: `${skipped} sequence numbers before ${e.oldestSeq} were removed by the relay's retention before this device read them` });
      this.backfillWanted = true;
    } else if (e.code === 'NOT_A_MEMBER' || e.code === 'MEMBER_REMOVED') {
      // E.g. removed while this device was offline: the relay refuses the resubscription.
      await this.onUnsubscribed('MEMBER_REMOVED');
    } else if (e.code !== 'CLIENT_CLOSED') {
      this.warn({ code: e.code, message: `subscription failed: ${e.message}` });
    }
  }

  /** @internal a `deliver` frame of this order. */
  onDeliver(messages: readonly DeliveredMessage[]): void {
    if (this.ended || this.closing) return;
    const now = this.ctx.clock.now();
    const offered = this.ctx.inbox.offer(this.orderId, messages, now);
    for (const m of offered.release) {
      // Never let one failure stop the chain: every later message would silently wait forever.
      this.processing = this.processing
        .then(() => this.process(m))
        .catch((e: unknown) => this.warn({ code: 'INTERNAL', seq: m.seq, message: `processing seq ${m.seq} failed: ${(e as Error).message}` }));
    }
    const last = offered.release.at(-1);
    if (last) {
      // The batch's receiver state is durable BEFORE its sequence is committed and acked:
      // otherwise a restart would resume past messages whose keys it would accept again.
      this.processing = this.processing.then(() => this.persistReceiver()).then(
        (ok) => {
          if (ok && !this.ended) this.cursor.advance(last.seq);
        },
        (e: unknown) => this.warn({ code: 'INTERNAL', seq: last.seq, message: `committing up to seq ${last.seq} failed: ${(e as Error).message}` }),
      );
    }
    const gapFrom = offered.backfillFrom ?? this.ctx.inbox.backfillDue(this.orderId, now);
    if (gapFrom !== undefined) this.resubscribe();
  }

  private async process(m: DeliveredMessage): Promise<void> {
    if (this.ended) return;
    const fetchKeys: KeyFetcher = (epoch) => this.fetchKeys(epoch);
    const result = await openDelivered(m, {
      orderId: this.orderId,
      me: this.ctx.keys.deviceId,
      receiver: this.receiver,
      rosters: this.rosters,
      refreshRosters: () => this.refreshRosters(),
      fetchKeys,
    });
    if (this.ended) return;
    if (result.ok) {
      const chainId = senderChainKey(result.header);
      const firstOfChain = !this.chainsSeen.has(chainId);
      this.chainsSeen.add(chainId);
      for (const w of this.tracker.observe(result.header, result.hash)) {
        // Resumed after a restart (or past trimmed history), a chain's first message here
        // follows ones handled earlier: no baseline, so no gap to report.
        if (w.type === 'gap' && firstOfChain && this.resumedMidHistory) continue;
        this.warn(chainWarning(w, m.seq));
      }
      const msg = { ...result.message, order: this.orderId, seq: m.seq, relayTime: m.at } as ReceivedMessage;
      this.emit('message', msg);
      this.stream.push(msg);
    } else {
      this.warn({ code: result.code, message: result.message, seq: m.seq, ...(result.sender ? { sender: result.sender } : {}) });
    }
    // Committed either way (after the batch's receiver state is saved, see onDeliver):
    // a message that can never be opened must not block the order.
  }

  /** Seal and store the receiver state and chain tracker; false (and a warning) when storage failed. */
  private async persistReceiver(): Promise<boolean> {
    if (this.ended) return false;
    const r = receiverKey(this.orderId);
    const t = trackerKey(this.orderId);
    try {
      await this.ctx.storage.set(r, sealState(this.storageKey, r, this.receiver.serialize()));
      await this.ctx.storage.set(t, sealState(this.storageKey, t, this.tracker.serialize()));
      return true;
    } catch (e) {
      this.warn({ code: 'STORAGE_FAILED', message: `could not persist the receiver state (the read position is not advanced): ${(e as Error).message}` });
      return false;
    }
  }

  /** Fetch this device's key packages (of one epoch, or all; every page) and install the valid ones. */
  private async fetchKeys(epoch?: number): Promise<void> {
    let after: Uint8Array | undefined;
    for (let pages = 0; pages < 1000; pages++) {
      const f = await this.ctx.connection.request(
        { t: 'kp_get', rid: 0, order: this.orderId, ...(epoch === undefined ? {} : { epoch }), ...(after ? { after: wire(after) } : {}) },
        ['kp'],
      );
      for (const w of installKeyPackages(f.packages, this.ctx.keys, this.rosters, this.receiver, this.rejectedPackages)) this.warn(w);
      if (!f.next) break;
      after = f.next;
    }
  }

  // ------------------------------------------------------------ rosters

  /** @internal a roster pushed by the relay. */
  async onRosterPush(bytes: Uint8Array): Promise<void> {
    if (this.ended) return;
    try {
      const before = this.rosters.head.epoch;
      const r = await this.rosters.accept(wire(bytes), this.ctx.clock.now());
      if (r.epoch > before) this.onNewEpoch(r);
    } catch (e) {
      if (e instanceof SealRelayError && e.code === 'ROSTER_BAD_CHAIN') {
        await this.refreshRosters();
        return;
      }
      this.warn({ code: 'ROSTER_REJECTED', message: (e as Error).message });
    }
  }

  private async refreshRosters(): Promise<void> {
    try {
      for (const r of await this.rosters.refresh(rosterFetcher(this.ctx.connection, this.orderId), this.ctx.clock.now())) this.onNewEpoch(r);
    } catch (e) {
      this.warn({ code: e instanceof SealRelayError ? e.code : 'ROSTER_REJECTED', message: (e as Error).message });
    }
  }

  private onNewEpoch(r: VerifiedRoster): void {
    this.emit('roster', r);
    if (!r.memberByDevice(this.ctx.keys.deviceId)) {
      this.stop();
      markRemoved(this.ctx.storage, this.orderId, r.epoch).catch((e: unknown) => this.warn({ code: 'STORAGE_FAILED', message: `could not persist the removal: ${(e as Error).message}` }));
      this.emit('removed', { epoch: r.epoch, verified: true });
    }
    // Sender keys rotate lazily: needsRotation() sees the epoch moved on the next send.
  }

  /**
   * @internal the relay ended the subscription. With MEMBER_REMOVED, look for the
   * signed roster that removed us; a relay serves a removed device no roster past
   * its last membership, so if none comes the relay's word stands (it could stop
   * delivering anyway) and the removal is reported as unverified.
   */
  async onUnsubscribed(code: string | undefined): Promise<void> {
    if (code !== 'MEMBER_REMOVED' || this.ended) return;
    await this.refreshRosters();
    if (this.ended) return;
    this.stop();
    await markRemoved(this.ctx.storage, this.orderId, this.rosters.head.epoch + 1);
    this.emit('removed', { epoch: this.rosters.head.epoch + 1, verified: false });
  }

  private stop(): void {
    this.ended = true;
    for (const k of this.outbound.values()) k.wipe();
    this.outbound.clear();
    this.storageKey.fill(0); // persistReceiver() is a no-op once ended
    this.cursor.stop();
    this.stream.end();
    // A cursor write still in flight finishes first: what was handed over stays handed over.
    void this.cursor.flushed().then(() => this.ctx.inbox.close(this.orderId));
    this.ctx.forget(this.orderId);
  }

  private warn(w: Omit<OrderWarning, 'order'>): void {
    this.emit('warning', { order: this.orderId, ...w });
  }
}

function receiverKey(order: string): string {
  return `receiver/${order}`;
}

function trackerKey(order: string): string {
  return `tracker/${order}`;
}

/**
 * The sealed receiver state and chain tracker of `order`, or fresh ones. A record that
 * does not open (other device keys on this storage, or altered) is replaced by a fresh
 * one and reported: refusing the order would not help, since whoever can alter the
 * storage can also delete it.
 */
async function restoreReceiver(storage: ClientStorage, storageKey: Uint8Array, order: string): Promise<{ receiver: ReceiverState; tracker: ChainTracker; problem?: string }> {
  const problems: string[] = [];
  const load = async <T>(label: string, decode: (b: Uint8Array) => T, fresh: () => T): Promise<T> => {
    const blob = await storage.get(label);
    if (!blob) return fresh();
    try {
      return decode(openState(storageKey, label, blob));
    } catch (e) {
      problems.push(`${label}: ${(e as Error).message}`);
      return fresh();
    }
  };
  const receiver = await load(receiverKey(order), (b) => ReceiverState.deserialize(b), () => new ReceiverState());
  const tracker = await load(trackerKey(order), (b) => ChainTracker.deserialize(b), () => new ChainTracker());
  return { receiver, tracker, ...(problems.length ? { problem: `stored receiver state could not be restored, replays of earlier messages are not detected: ${problems.join('; ')}` } : {}) };
}

function removedKey(order: string): string {
  return `removed/${encodeURIComponent(order)}`;
}

/** Remember that this device was removed from `order` (see OrderSession.open). */
async function markRemoved(storage: ClientStorage, order: string, epoch: number): Promise<void> {
  await setJson(storage, removedKey(order), epoch);
}

function rosterFetcher(connection: Connection, order: string): RosterFetcher {
  return (fromEpoch) =>
    connection.request({ t: 'roster_get', rid: 0, order, fromEpoch }, ['rosters']).then((f) => ({
      rosters: f.rosters,
      ...(f.nextEpoch === undefined ? {} : { nextEpoch: f.nextEpoch }),
    }));
}
