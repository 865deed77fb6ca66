/**
 * The relay hands blobs.quotaPer*Bytes to whichever blob store it runs (here the disk
 * one, chosen by blobs.dir): an upload past the quota is answered PAYLOAD_TOO_LARGE.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory.ts';
import { makeWorld, rosterFor, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, what, type FakeNode } from './fake-cluster.ts';

let w: World;
let dir: string;
let node: FakeNode;
const MiB = 1024 * 1024;

beforeAll(async () => {
  w = await makeWorld();
  dir = mkdtempSync(join(tmpdir(), 'sealrelay-relay-blobs-'));
  node = await fakeNode(w, new MemoryStore(), { blobs: { dir, quotaPerOrderBytes: 64 * MiB, quotaPerDeviceBytes: MiB } });
});
afterAll(async () => {
  await node?.relay.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('blob quotas through the relay', () => {
  it('refuses the upload that takes a device past blobs.quotaPerDeviceBytes on the disk blob store', async () => {
    expect(node.relay.config.blobs).toMatchObject({ quotaPerOrderBytes: 64 * MiB, quotaPerDeviceBytes: MiB });
    const order = `o-blob-quota-${Date.now()}`;
    const shipper = await FakeClient.open(node, w.shipper);
    expect(what(await shipper.request({ t: 'roster_put', rid: 1, order, roster: rosterFor(w, order, [w.shipper, w.courier]).bytes as Uint8Array<ArrayBuffer> }))).toBe('roster_ok');
    const courier = await FakeClient.open(node, w.courier);
    const answers: string[] = [];
    // 120,000 bytes each: eight fit in 1 MiB (960,000), the ninth does not.
    for (let i = 0; i < 9; i++) {
      const data = new Uint8Array(120_000).fill(i + 1);
      const hash = new Uint8Array(createHash('sha256').update(data).digest());
      answers.push(what(await courier.request({ t: 'blob_put', rid: 10 + i, order, hash, data })));
    }
    expect(answers).toEqual([...Array(8).fill('blob_ok'), 'error:PAYLOAD_TOO_LARGE']);
  });
});
