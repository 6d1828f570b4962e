import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AesGcmSecretBox, decodeKey, KEY_FILE_NAME, loadOrCreateKey } from './secret-box.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-secret-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const KEY = Buffer.alloc(32, 7);

describe('AesGcmSecretBox', () => {
  const box = new AesGcmSecretBox(KEY);

  it('opens what it sealed, for the same context only', () => {
    const sealed = box.seal('{"password":"hunter2"}', 'account:1');
    expect(sealed).not.toContain('hunter2');
    expect(sealed.split('.')).toHaveLength(5);
    expect(box.open(sealed, 'account:1')).toBe('{"password":"hunter2"}');
    expect(() => box.open(sealed, 'account:2')).toThrow(/does not open/);
  });

  it('seals the same text differently every time (random IV)', () => {
    expect(box.seal('x', 'c')).not.toBe(box.seal('x', 'c'));
  });

  it.each([
    ['a flipped ciphertext byte', (s: string) => s.slice(0, -2) + (s.at(-2) === 'A' ? 'B' : 'A') + s.at(-1)],
    [
      'a changed tag',
      (s: string) =>
        s
          .split('.')
          .map((p, i) => (i === 3 ? `A${p.slice(1)}` : p))
          .join('.'),
    ],
    ['garbage', () => 'not sealed at all'],
  ])('refuses %s', (_name, tamper) => {
    const sealed = box.seal('secret', 'ctx');
    expect(() => box.open(tamper(sealed), 'ctx')).toThrow();
  });

  it('names the key it was sealed with when the key changed', () => {
    const sealed = box.seal('secret', 'ctx');
    const other = new AesGcmSecretBox(Buffer.alloc(32, 9));
    expect(() => other.open(sealed, 'ctx')).toThrow(/another key .*TOKEN_ENCRYPTION_KEY changed/);
  });
});

describe('keys', () => {
  it.each([
    ['hex', '07'.repeat(32), true],
    ['base64', KEY.toString('base64'), true],
    ['base64url', Buffer.alloc(32, 255).toString('base64url'), true],
    ['too short', 'abcd', false],
    ['31 bytes', Buffer.alloc(31).toString('base64'), false],
    ['a passphrase', 'correct horse battery staple correct horse', false],
  ])('decodeKey: %s', (_name, text, valid) => {
    expect(decodeKey(text)?.length === 32).toBe(valid);
  });

  it('generates a key file once (0600) and reads it back', () => {
    const dir = tempDir();
    const first = loadOrCreateKey(undefined, dir);
    const path = join(dir, KEY_FILE_NAME);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKey(undefined, dir).equals(first)).toBe(true);
    expect(decodeKey(readFileSync(path, 'utf8'))?.equals(first)).toBe(true);
  });

  it('prefers TOKEN_ENCRYPTION_KEY and refuses an invalid one or a broken key file', () => {
    const dir = tempDir();
    expect(loadOrCreateKey('07'.repeat(32), dir).equals(KEY)).toBe(true);
    expect(() => loadOrCreateKey('nope', dir)).toThrow(/TOKEN_ENCRYPTION_KEY/);
    writeFileSync(join(dir, KEY_FILE_NAME), 'broken');
    expect(() => loadOrCreateKey(undefined, dir)).toThrow(/32-byte key/);
  });
});
