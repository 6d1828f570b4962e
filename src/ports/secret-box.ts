/**
 * Secrets at rest (mail passwords, OAuth tokens, the OAuth state): sealed with authenticated encryption, bound to
 * what they belong to (`context`, e.g. the account id), so a sealed value copied to another row does not open.
 */
export interface SecretBox {
  seal(plaintext: string, context: string): string;
  /** Throws when the value was tampered with, sealed for another context, or sealed with another key. */
  open(sealed: string, context: string): string;
}
