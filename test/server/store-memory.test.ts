import { MemoryStore } from '../../server/store/memory.ts';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract('memory', async (opts) => {
  const store = new MemoryStore(opts);
  return { store, cleanup: () => store.close() };
});
