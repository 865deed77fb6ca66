import { describe, expect, it } from 'vitest';
import { Listeners } from '../../server/store/listeners.ts';

type Hint = (order: string, seq: number) => void;

describe('Listeners', () => {
  it('calls every registered listener with the emitted arguments, in registration order', () => {
    const ls = new Listeners<Hint>();
    const heard: string[] = [];
    ls.add((o, s) => heard.push(`a:${o}:${s}`));
    ls.add((o, s) => heard.push(`b:${o}:${s}`));
    ls.emit('o1', 7);
    expect(heard).toEqual(['a:o1:7', 'b:o1:7']);
  });

  it('stops calling a listener once its unsubscribe function ran, and a second call of it changes nothing', () => {
    const ls = new Listeners<Hint>();
    const heard: number[] = [];
    const off = ls.add((_o, s) => heard.push(s));
    ls.add((_o, s) => heard.push(-s));
    ls.emit('o', 1);
    off();
    off();
    ls.emit('o', 2);
    expect(heard).toEqual([1, -1, -2]);
    expect(ls.size).toBe(1);
  });

  it('isolates a throwing listener: emit does not throw and the listeners after it still hear the hint', () => {
    const ls = new Listeners<Hint>();
    const heard: number[] = [];
    ls.add(() => {
      throw new Error('listener bug');
    });
    ls.add((_o, s) => heard.push(s));
    expect(() => ls.emit('o', 3)).not.toThrow();
    expect(heard).toEqual([3]);
  });

  it('forgets every listener on clear', () => {
    const ls = new Listeners<Hint>();
    let calls = 0;
    ls.add(() => calls++);
    ls.add(() => calls++);
    ls.clear();
    ls.emit('o', 1);
    expect(calls).toBe(0);
    expect(ls.size).toBe(0);
  });
});
