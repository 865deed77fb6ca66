/**
 * The browser build in real Chromium (playwright-core + Debian's chromium)
 * against a real relay: the SDK bundled for the browser with esbuild, the
 * global WebSocket transport, IndexedDB storage that survives a page reload.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { existsSync } from 'node:fs';
import { CHROMIUM as DEFAULT_CHROMIUM, requireService } from '../loadtest/service.ts';
import { makeClient, makeWorld, record, rosterFor, startTestRelay, waitFor, type World } from './world.ts';

// Absent: ONE loud SKIPPING line, or a failure under CI=true (a green CI that skipped this proves nothing).
const CHROMIUM = process.env.SEALRELAY_CHROMIUM ?? DEFAULT_CHROMIUM;
const chromiumHere = requireService('Chromium', existsSync(CHROMIUM), 'apt-get install -y chromium');
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

let w: World;
let relay: RunningRelay;
let browser: Browser;
let page: Server;
let pageUrl: string;
const clients: SealRelayClient[] = [];

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
  const bundle = await build({
    entryPoints: [join(import.meta.dirname, 'browser-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]!.contents;
  page = createServer((req, res) => {
    if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/bundle.js"></script>');
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  const addr = page.address();
  pageUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  await new Promise((r) => page?.close(r));
  await relay?.close();
});

describe.skipIf(!chromiumHere)('the SDK in Chromium', () => {
  it('talks end to end with a Node party over the browser WebSocket, and its IndexedDB outbox survives a reload', async () => {
    const id = `BR-${process.pid}`;
    const node = await makeClient(relay, w, w.consignee);
    clients.push(node);
    await node.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
    const atNode = record(await node.openOrder(id));
    const tab = await (await browser.newContext()).newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => 'sealrelayScenario' in globalThis);
    const cfg = { url: relay.url, keys: hex(w.shipper.keys.serialize()), cert: hex(w.shipper.cert), trusted: w.trusted.map(hex), order: id };
    type Result = { received: string[]; states: string[]; pendingAtStart: number; pendingAtEnd: number };
    const run = (c: object) => tab.evaluate((x) => (globalThis as unknown as { sealrelayScenario(c: object): Promise<Result> }).sealrelayScenario(x), c);

    const live = run({ ...cfg, step: 'send', texts: ['from the browser'], expectFromPeer: 1 });
    await waitFor(() => atNode.messages.length === 1, 45_000, 'the browser message at the Node party');
    await (await (await node.openOrder(id)).send('text', { text: 'from node' })).acked;
    const first = await live;
    expect(first.received).toEqual(['me: from the browser', 'consignee: from node']);
    expect(first.states[0]).toBe('connecting:CONNECT_CALLED');
    expect(first.states).toContain('connected:AUTHENTICATED');

    // Queue while offline, reload the page (a new JS world), and let IndexedDB hand the outbox over.
    const queued = await run({ ...cfg, step: 'queue', texts: ['queued 1', 'queued 2'], expectFromPeer: 0 });
    expect(queued.pendingAtEnd).toBe(2);
    await tab.reload();
    await tab.waitForFunction(() => 'sealrelayScenario' in globalThis);
    const flushed = await run({ ...cfg, step: 'flush', texts: [], expectFromPeer: 0 });
    expect(flushed.pendingAtStart).toBe(2);
    await waitFor(() => atNode.messages.length === 4, 45_000, 'the queued messages at the Node party');
    expect(atNode.messages.map((m) => (m.kind === 'text' ? m.body.text : m.kind))).toEqual(['from the browser', 'from node', 'queued 1', 'queued 2']);
  }, 150_000);
});
