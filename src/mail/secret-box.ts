/**
 * AES-256-GCM for secrets at rest. The key is TOKEN_ENCRYPTION_KEY (32 bytes, base64 or hex), or else a key file
 * generated once in the data directory (mode 0600). A sealed value reads `v1.{key id}.{iv}.{tag}.{ciphertext}`
 * (base64url): the key id (a hash of the key, not the key) tells "sealed with another key" apart from "tampered
 * with", and the context (an account id, a purpose) is authenticated data, so a value moved to another row does not
 * open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SecretBox } from '../ports/secret-box.ts';

export const KEY_FILE_NAME = 'token-encryption.key';

/** Decodes TOKEN_ENCRYPTION_KEY: 64 hex digits, or base64 / base64url of 32 bytes. undefined when invalid. */
export function decodeKey(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(value)) {
    const key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

/** The configured key, or the data directory's key file (created on first use). */
export function loadOrCreateKey(configured: string | undefined, dataDir: string): Buffer {
  if (configured !== undefined) {
    const key = decodeKey(configured);
    if (!key) throw new Error('TOKEN_ENCRYPTION_KEY must be 32 bytes as base64 or 64 hex digits');
    return key;
  }
  const path = join(dataDir, KEY_FILE_NAME);
  try {
    const key = decodeKey(readFileSync(path, 'utf8'));
    if (!key) throw new Error(`${path} does not hold a 32-byte key`);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(path), { recursive: true });
  const key = randomBytes(32);
  try {
    // 'wx': never overwrite a key another process wrote in the meantime; that one wins.
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return loadOrCreateKey(undefined, dataDir);
  }
}

const b64 = (b: Buffer) => b.toString('base64url');

export class AesGcmSecretBox implements SecretBox {
  readonly #key: Buffer;
  readonly keyId: string;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('AES-256-GCM needs a 32-byte key');
    this.#key = key;
    this.keyId = createHash('sha256')
      .update('thread-tracker key id')
      .update(key)
      .digest('base64url')
      .slice(0, 8);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.keyId, b64(iv), b64(cipher.getAuthTag()), b64(ciphertext)].join('.');
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') throw new Error('not a sealed value');
    const [, keyId, iv, tag, ciphertext] = parts as [string, string, string, string, string];
    if (keyId !== this.keyId) {
      throw new Error(
        `sealed with another key (${keyId}; the current key is ${this.keyId}): TOKEN_ENCRYPTION_KEY changed`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new Error('the sealed value does not open: tampered with, or sealed for something else');
    }
  }
}
