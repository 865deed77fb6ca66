/**
 * Fixture generator for the k6 scripts (a Node script, not a k6 one):
 *
 *   npx tsx loadtest/k6/fixtures.ts --url ws://127.0.0.1:8080/ --authority-seed <64 hex> --orders 25 --messages 500 --out loadtest/k6/fixtures.json
 *
 * The relay must trust the authority: start it with
 * SEALRELAY_TRUSTED_AUTHORITIES=<the public key this prints>.
 */
import { parseArgs } from 'node:util';
import { makeTicketFixtures, writeTicketFixtures } from '../targets/ticket-fixtures.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8080/' },
    'authority-seed': { type: 'string' },
    orders: { type: 'string', default: '25' },
    messages: { type: 'string', default: '500' },
    out: { type: 'string', default: 'loadtest/k6/fixtures.json' },
  },
});
const fx = await makeTicketFixtures({ url: values.url!, orders: Number(values.orders), messagesPerOrder: Number(values.messages), authoritySeedHex: values['authority-seed'] });
writeTicketFixtures(values.out!, fx);
console.log(`wrote ${values.out}: ${fx.orders.length} orders; authority public key ${fx.authorityPublicKey}`);
