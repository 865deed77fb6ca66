import { describe, expect, it } from 'vitest';
import { ERRORS, ERROR_CODES, closeCodeOf, errorOfCloseCode, shouldReconnect, CLOSE_NORMAL } from '../../protocol/index.ts';
import { challengeTranscript } from '../../protocol/index.ts';

describe('the error table', () => {
  it('gives every code a unique number and a sentence that says what to do', () => {
    const nums = ERROR_CODES.map((c) => ERRORS[c].num);
    expect(new Set(nums).size).toBe(nums.length);
    for (const c of ERROR_CODES) {
      expect(ERRORS[c].message.length).toBeGreaterThan(30);
      expect(ERRORS[c].message.endsWith('.')).toBe(true);
    }
  });

  it('maps every code to an application close code and back', () => {
    for (const c of ERROR_CODES) {
      const close = closeCodeOf(c);
      expect(close).toBeGreaterThanOrEqual(4000);
      expect(close).toBeLessThan(5000);
      expect(errorOfCloseCode(close)).toBe(c);
    }
    expect(errorOfCloseCode(1006)).toBeUndefined();
  });

  it('lets the close code decide whether to reconnect', () => {
    expect(shouldReconnect(CLOSE_NORMAL)).toBe(false);
    expect(shouldReconnect(1006)).toBe(true);
    expect(shouldReconnect(closeCodeOf('SERVER_RESTARTING'))).toBe(true);
    expect(shouldReconnect(closeCodeOf('SLOW_CONSUMER'))).toBe(true);
    expect(shouldReconnect(closeCodeOf('CERT_UNTRUSTED'))).toBe(false);
    expect(shouldReconnect(closeCodeOf('AUTH_FAILED'))).toBe(false);
  });
});

describe('the challenge transcript', () => {
  it('binds relay id, nonce and device id so a signature cannot move between them', () => {
    const nonce = new Uint8Array(32).fill(1);
    const a = challengeTranscript('relay-a', nonce, 'd_1');
    expect(challengeTranscript('relay-b', nonce, 'd_1')).not.toEqual(a);
    expect(challengeTranscript('relay-a', new Uint8Array(32).fill(2), 'd_1')).not.toEqual(a);
    expect(challengeTranscript('relay-a', nonce, 'd_2')).not.toEqual(a);
    // length prefixes keep field boundaries unambiguous
    expect(challengeTranscript('relay-a1', nonce, 'd')).not.toEqual(challengeTranscript('relay-a', nonce, '1d'));
    expect(new TextDecoder().decode(a.subarray(0, 17))).toBe('sealrelay/auth/v1');
  });
});

describe('the wire specification', () => {
  it('documents every error code and every frame type', async () => {
    const { readFile } = await import('node:fs/promises');
    const { CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES } = await import('../../protocol/index.ts');
    const spec = await readFile(new URL('../../protocol/README.md', import.meta.url), 'utf8');
    for (const c of ERROR_CODES) expect(spec, `error ${c}`).toContain(`| \`${c}\` | ${ERRORS[c].num} |`);
    for (const t of [...CLIENT_FRAME_TYPES, ...SERVER_FRAME_TYPES]) expect(spec, `frame ${t}`).toMatch(new RegExp(`\\b${t} \\{|\`${t}\``));
  });
});
