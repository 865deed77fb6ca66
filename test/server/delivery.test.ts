import { describe, expect, it } from 'vitest';
import { decodeServerFrame } from '../../protocol/codec.ts';
import type { ServerFrame } from '../../protocol/frames.ts';
import { FeedRegistry } from '../../server/delivery/feed.ts';
import type { DeliverySource, SubscriberSink } from '../../server/delivery/types.ts';
import type { StoredMessage } from '../../server/store/types.ts';
import type { SendResult } from '../../server/transport.ts';

/** A store-like source: an array log, scopes decide visibility per device. */
class FakeSource implements DeliverySource {
  readonly log: StoredMessage[] = [];
  readonly readers = new Map<string, Set<string>>(); // scope → devices
  reads = 0;
  oldestHeld = 1;
  async read(_order: string, afterSeq: number, limit: number) {
    this.reads++;
    await Promise.resolve();
    return this.log.filter((m) => m.seq > afterSeq && m.seq >= this.oldestHeld).slice(0, limit);
  }
  async head() {
    return this.log.length;
  }
  async oldest() {
    return this.oldestHeld;
  }
  async ensureEpoch() {}
  canRead(_o: string, _e: number, scope: string, device: string) {
    return this.readers.get(scope)?.has(device) ?? false;
  }
  knowsEpoch() {
    return true;
  }
  async watch() {}
  async unwatch() {}
  append(scope: string): StoredMessage {
    const m: StoredMessage = { seq: this.log.length + 1, envelope: new Uint8Array([this.log.length + 1]), at: 0, epoch: 1, scope, sender: 'd_s' };
    this.log.push(m);
    return m;
  }
}

class Sink implements SubscriberSink {
  bufferedAmount = 0;
  stalled = false;
  readonly bytes: Uint8Array[] = [];
  overflowed = false;
  pausedCount = 0;
  constructor(readonly device: string) {}
  sendEncoded(_t: ServerFrame['t'], bytes: Uint8Array): SendResult {
    this.bytes.push(bytes);
    if (this.stalled) this.bufferedAmount += bytes.byteLength;
    return 'ok';
  }
  sendFrame(): SendResult {
    return 'ok';
  }
  paused() {
    this.pausedCount++;
  }
  overflow() {
    this.overflowed = true;
  }
  ended() {}
  delivered(): Array<{ seq: number; prev: number }> {
    return this.bytes.flatMap((b) => {
      const f = decodeServerFrame(b);
      return f.t === 'deliver' ? f.messages.map((m) => ({ seq: m.seq, prev: m.prev })) : [];
    });
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const hooks = { onPause: () => undefined, onDeliver: () => undefined, onError: (e: unknown) => { throw e; } };

function setup(pauseBytes = 1000) {
  const source = new FakeSource();
  source.readers.set('shared', new Set(['a', 'b']));
  source.readers.set('commercial', new Set(['a']));
  const feeds = new FeedRegistry(source, { pauseBytes, batch: 4 }, hooks);
  return { source, feeds };
}

describe('order fan-out', () => {
  it('replays history in batches, then delivers live, each message once and in order', async () => {
    const { source, feeds } = setup();
    for (let i = 0; i < 10; i++) source.append('shared');
    const feed = feeds.open('o');
    await feed.ready;
    const a = new Sink('a');
    feed.subscribe(a, 3);
    await tick();
    feed.hint(11, source.append('shared'));
    feed.hint(11, source.log[10]); // a repeated hint is ignored
    await tick();
    expect(a.delivered().map((m) => m.seq)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(a.delivered()[0]!.prev).toBe(3);
  });

  it('links each reader to the previous message IT may see, and encodes one frame per distinct prev', async () => {
    const { source, feeds } = setup();
    const feed = feeds.open('o');
    await feed.ready;
    const [a1, a2, bb] = [new Sink('a'), new Sink('a'), new Sink('b')];
    for (const s of [a1, a2, bb]) feed.subscribe(s, 0);
    await tick();
    feed.hint(1, source.append('commercial'));
    feed.hint(2, source.append('shared'));
    expect(a1.delivered()).toEqual([{ seq: 1, prev: 0 }, { seq: 2, prev: 1 }]);
    expect(bb.delivered()).toEqual([{ seq: 2, prev: 0 }]);
    // Same position → the very same encoded bytes (shared, not re-encoded).
    expect(a1.bytes[1]).toBe(a2.bytes[1]);
    expect(bb.bytes[0]).not.toBe(a1.bytes[1]);
  });

  it('back-fills from the store when hints arrive out of order or are lost', async () => {
    const { source, feeds } = setup();
    const feed = feeds.open('o');
    await feed.ready;
    const a = new Sink('a');
    feed.subscribe(a, 0);
    await tick();
    source.append('shared');
    source.append('shared');
    const third = source.append('shared');
    feed.hint(3, third); // hints for 1 and 2 never came
    await tick();
    feed.hint(1, source.log[0]); // late hint: ignored
    await tick();
    expect(a.delivered().map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('pauses a reader whose buffer passes the threshold and resumes it from the store on drain, skipping nothing', async () => {
    const { source, feeds } = setup(100);
    const feed = feeds.open('o');
    await feed.ready;
    const slow = new Sink('a');
    const quick = new Sink('b');
    feed.subscribe(slow, 0);
    feed.subscribe(quick, 0);
    await tick();
    slow.stalled = true;
    for (let i = 0; i < 50; i++) {
      const m = { ...source.append('shared'), envelope: new Uint8Array(40) };
      source.log[m.seq - 1] = m;
      feed.hint(m.seq, m);
    }
    expect(slow.pausedCount).toBe(1);
    const sentWhilePaused = slow.delivered().length;
    expect(sentWhilePaused).toBeLessThan(10);
    expect(quick.delivered().length).toBe(50);
    // The reader drains its buffer.
    slow.stalled = false;
    slow.bufferedAmount = 0;
    const sub = [...feed.subscriptions].find((s) => s.sink === slow)!;
    expect(sub.state).toBe('paused');
    sub.drained();
    await tick();
    await tick();
    expect(slow.delivered().map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(sub.state).toBe('live');
  });

  it('closes the feed and unwatches when the last subscription leaves', async () => {
    const { feeds } = setup();
    const feed = feeds.open('o');
    await feed.ready;
    const sub = feed.subscribe(new Sink('a'), 0);
    expect(feeds.size).toBe(1);
    feeds.remove(sub);
    expect(feeds.size).toBe(0);
  });

  it('reports a trimmed position instead of silently skipping', async () => {
    const { source, feeds } = setup();
    for (let i = 0; i < 10; i++) source.append('shared');
    source.oldestHeld = 6;
    const feed = feeds.open('o');
    await feed.ready;
    let ended = '';
    const sink = Object.assign(new Sink('a'), { ended: (_o: string, code: string) => void (ended = code) });
    feed.subscribe(sink, 2);
    await tick();
    expect(ended).toBe('HISTORY_TRIMMED');
    expect(sink.delivered()).toEqual([]);
  });
});
