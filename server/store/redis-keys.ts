/**
 * Key layout of the Redis store (server/store/README.md has the table).
 *
 * Every key of one order starts with the hash tag `{o:<order>}` so that all of them,
 * and the order's shard channel, hash to one cluster slot: the append script may
 * then touch them all atomically, and SPUBLISH from inside it is slot-local.
 *
 * Order ids may contain any printable character, including `{`, `}` and `%`. A `}`
 * would end the hash tag early and let two orders' keys collide (order `a}:kp:b`
 * vs. order `a`'s key packages for recipient `b}:…`), so the three are
 * percent-encoded. Everything after the tag is unambiguous because the order part
 * no longer contains `}`.
 */

export function escapeTag(order: string): string {
  return order.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A signed-HTTP nonce: one key per nonce, outside any order's slot (SET NX PX needs no script). */
export function nonceKey(key: string): string {
  return `sealrelay:nonce:${key}`;
}

/**
 * One order's key names. A class, not an object literal of arrow functions:
 * orderKeys runs for every append and ack.
 */
export class OrderKeys {
  /** INCR counter: the head seq. Never expires, so seq never restarts. */
  readonly seq: string;
  /** The stream: entry id `<seq>-0`, fields a (at), p (epoch), s (scope), f (sender), e (envelope). */
  readonly stream: string;
  /** Hash device → cumulative-ack cursor. */
  readonly cursors: string;
  /** Hash epoch → roster bytes; epochs are 1..HLEN, so HLEN is the current epoch. */
  readonly rosters: string;
  /** Hash epoch → head seq when that roster was accepted. */
  readonly rosterSeq: string;
  /**
   * Prefix of the per-node shard channels for hints: node N listens on `<live>:<N>`
   * (liveFor). Hints go only to the OTHER nodes watching the order, never back to
   * the node that appended.
   */
  readonly live: string;
  /** Sorted set of the relay nodes watching the order: node id → lease expiry (ms); each renews its lease while it watches. */
  readonly watchers: string;

  /** `tag`: the hash tag, e.g. `{o:42}`. */
  constructor(readonly tag: string) {
    this.seq = `${tag}:n`;
    this.stream = `${tag}:s`;
    this.cursors = `${tag}:c`;
    this.rosters = `${tag}:r`;
    this.rosterSeq = `${tag}:ra`;
    this.live = `${tag}:live`;
    this.watchers = `${tag}:wl`;
  }

  liveFor(node: string): string {
    return `${this.tag}:live:${node}`;
  }

  /** The device length prefix keeps (`a:b`, `c`) and (`a`, `b:c`) apart. */
  dedup(device: string, clientMsgId: string): string {
    return `${this.tag}:d:${device.length}:${device}:${clientMsgId}`;
  }

  keyPackages(recipient: string): string {
    return `${this.tag}:kp:${recipient}`;
  }

  /** List of one (recipient, sender, epoch, scope) group's key-package members, newest first (caps the group). Length prefixes keep every field boundary unambiguous. */
  keyPackageGroup(recipient: string, sender: string, epoch: number, scope: string): string {
    return `${this.tag}:kg:${recipient.length}:${recipient}:${sender.length}:${sender}:${epoch}:${scope}`;
  }
}

export function orderKeys(order: string): OrderKeys {
  return new OrderKeys(`{o:${escapeTag(order)}}`);
}

/** Recover the order id from a `{o:…}:live[:<node>]` channel name (inverse of orderKeys().live / liveFor). */
export function orderOfChannel(channel: string): string | undefined {
  const m = /^\{o:([^}]*)\}:live(?::.*)?$/s.exec(channel);
  if (!m) return undefined;
  return m[1]!.replace(/%(25|7B|7D)/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}
