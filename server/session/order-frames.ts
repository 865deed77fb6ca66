/**
 * Handlers for the frames of an authenticated session that concern orders:
 * sub/unsub/ack (delivery), pub, key packages, rosters, blobs.
 */
import { ProtocolError } from '../../protocol/errors.ts';
import type { ClientFrame, ClientFrameOf } from '../../protocol/frames.ts';
import { MAX_ROSTERS_PER_GET } from '../../protocol/limits.ts';
import { appendPublish, fetchKeyPackages, fetchRosters, getBlob, putBlob, putKeyPackages, putRoster, requireMember, validatePublish, validatePublishCached, type ValidatedPublish } from '../orders.ts';
import { wire } from '../bytes.ts';
import type { Session } from './session.ts';

export function handleOrderFrame(s: Session, frame: ClientFrame): void {
  switch (frame.t) {
    case 'sub':
      return void subscribe(s, frame).catch((err) => s.fail(err, { rid: frame.rid, order: frame.order }));
    case 'unsub':
      return unsubscribe(s, frame);
    case 'pub':
      return publish(s, frame);
    case 'ack':
      return ack(s, frame);
    case 'kp_put':
      return void putKeyPackages(s.ctx, s.device, frame.order, frame.packages).then(
        (stored) => s.send({ t: 'kp_ok', rid: frame.rid, order: frame.order, stored }),
        (err) => s.fail(err, { rid: frame.rid, order: frame.order }),
      );
    case 'kp_get':
      return void fetchKeyPackages(s.ctx, s.device, frame.order, frame.epoch, frame.after).then(
        (page) => s.send({ t: 'kp', rid: frame.rid, order: frame.order, packages: page.packages.map(wire), ...(page.next ? { next: wire(page.next) } : {}) }),
        (err) => s.fail(err, { rid: frame.rid, order: frame.order }),
      );
    case 'roster_put':
      return void putRoster(s.ctx, frame.order, frame.roster).then(
        (r) => s.send({ t: 'roster_ok', rid: frame.rid, order: frame.order, epoch: r.epoch, hash: wire(r.hash) }),
        (err) => s.fail(err, { rid: frame.rid, order: frame.order }),
      );
    case 'roster_get':
      return void fetchRosters(s.ctx, s.device, frame.order, frame.fromEpoch ?? 1, MAX_ROSTERS_PER_GET).then(
        (page) => s.send({ t: 'rosters', rid: frame.rid, order: frame.order, rosters: page.rosters.map(wire), ...(page.nextEpoch ? { nextEpoch: page.nextEpoch } : {}) }),
        (err) => s.fail(err, { rid: frame.rid, order: frame.order }),
      );
    case 'blob_put':
      return void putBlob(s.ctx, s.device, frame.order, frame.hash, frame.data).then(
        (blobId) => s.send({ t: 'blob_ok', rid: frame.rid, blobId }),
        (err) => s.fail(err, { rid: frame.rid, order: frame.order }),
      );
    case 'blob_get':
      return void getBlob(s.ctx, s.device, frame.blobId).then(
        (data) => s.send({ t: 'blob', rid: frame.rid, blobId: frame.blobId, data: wire(data) }),
        (err) => s.fail(err, { rid: frame.rid }),
      );
    default:
      throw new ProtocolError('UNKNOWN_FRAME_TYPE', frame.t);
  }
}

async function subscribe(s: Session, frame: ClientFrameOf<'sub'>): Promise<void> {
  const { order, afterSeq, rid } = frame;
  if (s.subscriptions.has(order) || s.subscribing.has(order)) {
    // Re-subscribing moves the position: drop the old subscription first.
    const old = s.subscriptions.get(order);
    if (old) {
      s.subscriptions.delete(order);
      s.ctx.feeds.remove(old);
      s.ctx.metrics.subscriptions.dec();
    } else {
      throw new ProtocolError('BAD_FRAME', 'a subscription to this order is already being set up');
    }
  }
  if (s.subscriptions.size + s.subscribing.size >= s.ctx.config.limits.maxSubscriptionsPerConnection) {
    throw new ProtocolError('TOO_MANY_SUBSCRIPTIONS', `${s.ctx.config.limits.maxSubscriptionsPerConnection} per connection`);
  }
  s.subscribing.add(order);
  try {
    const roster = await requireMember(s.ctx, order, s.device);
    const oldest = await s.ctx.metrics.timeStore('oldest', () => s.ctx.store.oldest(order));
    if (afterSeq + 1 < oldest) {
      throw Object.assign(new ProtocolError('HISTORY_TRIMMED', `oldest held is ${oldest}`), { oldestSeq: oldest });
    }
    let feed = s.ctx.feeds.open(order);
    // If the feed was released while we waited (another sub refused), open it again.
    while ((await feed.ready, s.ctx.feeds.get(order) !== feed)) feed = s.ctx.feeds.open(order);
    if (s.state === 'closed') return;
    // The roster may have moved on while we waited.
    const head = s.ctx.rosters.cachedHead(order);
    if (head && !head.memberByDevice(s.device)) throw new ProtocolError('NOT_A_MEMBER', `removed in epoch ${head.epoch}`);
    // From here on synchronous: the feed cannot be released between the check above and subscribe().
    const headSeq = feed.lastFanned;
    s.send({ t: 'subscribed', rid, order, epoch: head?.epoch ?? roster.epoch, headSeq, fromSeq: afterSeq + 1 });
    const sub = feed.subscribe(s, afterSeq);
    s.subscriptions.set(order, sub);
    s.ctx.metrics.subscriptions.inc();
  } finally {
    s.subscribing.delete(order);
    // A feed opened for a subscription that was refused (or whose socket closed meanwhile) must not linger.
    if (!s.subscriptions.has(order)) s.ctx.feeds.release(order);
  }
}

function unsubscribe(s: Session, frame: ClientFrameOf<'unsub'>): void {
  const sub = s.subscriptions.get(frame.order);
  if (!sub) return s.sendError('NOT_SUBSCRIBED', { rid: frame.rid, order: frame.order });
  s.subscriptions.delete(frame.order);
  s.ctx.feeds.remove(sub);
  s.ctx.metrics.subscriptions.dec();
  s.send({ t: 'unsubscribed', rid: frame.rid, order: frame.order });
}

/**
 * Unanswered publishes one socket may have at the relay. A well-behaved client keeps
 * one in flight per order (the SDK's outbox window); 512 leaves room for a gateway
 * multiplexing many orders, and caps a socket's queued envelopes at 512 × 96 KiB.
 */
export const MAX_PUBLISHES_IN_FLIGHT = 512;
/** Back-off suggested when that cap is hit: about one store round trip under load. */
const OVERLOAD_RETRY_MS = 50;

function publish(s: Session, frame: ClientFrameOf<'pub'>): void {
  // Shutting down: take no new appends (the grace period waits for those in flight
  // to finish, and would never see zero under steady traffic). The client resumes elsewhere.
  // The socket stays open until the relay closes it: pubacks of appends already in flight must still reach it.
  if (s.shuttingDown) return s.refuseWithoutClosing('SERVER_RESTARTING', { order: frame.order, clientMsgId: frame.clientMsgId });
  const take = s.ctx.publishLimiter.take(s.device, s.ctx.now());
  if (!take.ok) {
    s.ctx.metrics.published('rejected', 'ws');
    return s.sendError('RATE_LIMITED', { order: frame.order, clientMsgId: frame.clientMsgId, retryAfterMs: take.retryAfterMs });
  }
  // Memory stays bounded when the store cannot keep up: past this many unanswered
  // publishes the socket is told to back off and retry (nothing was stored).
  if (s.pubInFlight >= MAX_PUBLISHES_IN_FLIGHT) {
    s.ctx.metrics.published('rejected', 'ws');
    return s.sendError('RATE_LIMITED', { order: frame.order, clientMsgId: frame.clientMsgId, retryAfterMs: OVERLOAD_RETRY_MS });
  }
  s.pubInFlight++;
  // Nothing of this socket waits for validation: decide now from the cached roster,
  // without a trip through the promise queue (the common case on a live order).
  // (Module-level helpers, not closures: this runs for every publish.)
  if (s.pubValidating === 0) {
    let validated: ValidatedPublish | undefined;
    try {
      validated = validatePublishCached(s.ctx, s.device, frame.order, frame.clientMsgId, frame.envelope);
    } catch (err) {
      return refusePublish(s, frame, err);
    }
    if (validated) return appendValidated(s, frame, validated);
  }
  // Otherwise in arrival order behind the others (per-sender hash chains must not be reordered).
  // The envelope may be a view into a shared receive slab: a queued publish keeps a copy,
  // not the whole slab, while it waits.
  s.pubValidating++;
  const queued = { ...frame, envelope: Uint8Array.prototype.slice.call(frame.envelope) as typeof frame.envelope };
  const next = (): Promise<void> => validateQueued(s, queued);
  s.pubQueue = s.pubQueue.then(next, next);
}

async function validateQueued(s: Session, frame: ClientFrameOf<'pub'>): Promise<void> {
  let validated;
  try {
    validated = await validatePublish(s.ctx, s.device, frame.order, frame.clientMsgId, frame.envelope);
  } catch (err) {
    s.pubValidating--;
    return refusePublish(s, frame, err);
  }
  s.pubValidating--;
  appendValidated(s, frame, validated);
}

function refusePublish(s: Session, frame: ClientFrameOf<'pub'>, err: unknown): void {
  s.pubInFlight--;
  s.ctx.metrics.published('rejected', 'ws');
  s.fail(err, { order: frame.order, clientMsgId: frame.clientMsgId });
}

/** Not awaited: appends of one connection pipeline in order; the ack waits for durability. */
function appendValidated(s: Session, frame: ClientFrameOf<'pub'>, validated: ValidatedPublish): void {
  appendPublish(s.ctx, validated, 'ws').then(
    (r) => {
      s.pubInFlight--;
      s.send({ t: 'puback', order: frame.order, clientMsgId: frame.clientMsgId, seq: r.seq, duplicate: r.duplicate });
    },
    (err) => {
      s.pubInFlight--;
      s.fail(err, { order: frame.order, clientMsgId: frame.clientMsgId });
    },
  );
}

function ack(s: Session, frame: ClientFrameOf<'ack'>): void {
  const sub = s.subscriptions.get(frame.order);
  if (!sub) return s.sendError('NOT_SUBSCRIBED', { order: frame.order });
  // A client cannot acknowledge what it was never sent.
  const seq = Math.min(frame.seq, sub.sentSeq);
  s.ctx.metrics.timeStore('setCursor', () => s.ctx.store.setCursor(frame.order, s.device, seq)).catch((err) => s.log.warn({ err, order: frame.order }, 'cursor update failed'));
}
