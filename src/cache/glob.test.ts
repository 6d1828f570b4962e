import { describe, expect, it } from 'vitest';
import { escapeGlob, globToRegExp } from './glob.ts';

describe('globToRegExp', () => {
  const cases: { pattern: string; matches: string[]; misses: string[] }[] = [
    { pattern: 'abc', matches: ['abc'], misses: ['ab', 'abcd', 'xabc', 'ABC'] },
    { pattern: '*', matches: ['', 'a', 'a:b:c', 'line\nbreak'], misses: [] },
    { pattern: 'a*', matches: ['a', 'abc', 'a\nb'], misses: ['', 'ba'] },
    { pattern: '*c', matches: ['c', 'abc'], misses: ['cb'] },
    { pattern: 'a?c', matches: ['abc', 'a:c', 'a\nc'], misses: ['ac', 'abbc'] },
    { pattern: 'h[ae]llo', matches: ['hallo', 'hello'], misses: ['hillo', 'hllo', 'haello'] },
    { pattern: 'h[^e]llo', matches: ['hallo', 'hbllo'], misses: ['hello', 'hllo'] },
    { pattern: 'h[a-c]llo', matches: ['hallo', 'hbllo', 'hcllo'], misses: ['hdllo'] },
    { pattern: 'a\\*b', matches: ['a*b'], misses: ['ab', 'axb', 'a\\*b'] },
    { pattern: 'a\\?b', matches: ['a?b'], misses: ['axb'] },
    { pattern: 'a\\[b', matches: ['a[b'], misses: ['ab'] },
    { pattern: 'a[b', matches: ['a[b'], misses: ['ab'] },
    { pattern: 'trailing\\', matches: ['trailing\\'], misses: ['trailing'] },
    // Regular-expression metacharacters are literals in a glob.
    { pattern: 'a.b', matches: ['a.b'], misses: ['axb'] },
    { pattern: 'a+b', matches: ['a+b'], misses: ['aab', 'ab'] },
    { pattern: '(a|b)', matches: ['(a|b)'], misses: ['a', 'b'] },
    { pattern: '^a$', matches: ['^a$'], misses: ['a'] },
    { pattern: 'a{2}', matches: ['a{2}'], misses: ['aa'] },
    { pattern: 'a/b', matches: ['a/b'], misses: ['ab'] },
    // The service's own layouts.
    {
      pattern: 'tt:1:?:bWU:*',
      matches: ['tt:1:t:bWU:abc', 'tt:1:g:bWU:gen', 'tt:1:l:bWU:0:hash'],
      misses: ['tt:1:t:bWUx:abc', 'tt:1:t:b3RoZXI:abc', 'tt:2:t:bWU:abc', 'tt:1:tt:bWU:abc'],
    },
    { pattern: 'tt:1:*', matches: ['tt:1:', 'tt:1:t:x:y'], misses: ['tt:10:t', 'xtt:1:'] },
  ];

  for (const { pattern, matches, misses } of cases) {
    it(`${JSON.stringify(pattern)} selects exactly what it should`, () => {
      const regex = globToRegExp(pattern);
      for (const key of matches) expect(regex.test(key), `${pattern} should match ${key}`).toBe(true);
      for (const key of misses) expect(regex.test(key), `${pattern} should not match ${key}`).toBe(false);
    });
  }
});

describe('escapeGlob', () => {
  const literals = [
    'plain',
    'a*b',
    'a?b',
    '[abc]',
    '[^a]',
    'back\\slash',
    'trailing\\',
    '*?[]\\',
    'user:with:colons',
    'emoji 👋 and RTL \u200f',
    '',
  ];

  it.each(literals)('makes %j match only itself', (literal) => {
    const regex = globToRegExp(escapeGlob(literal));
    expect(regex.test(literal)).toBe(true);
    for (const other of ['', 'x', `${literal}x`, `x${literal}`, literal.slice(1)]) {
      if (other !== literal)
        expect(regex.test(other), `should not match ${JSON.stringify(other)}`).toBe(false);
    }
  });

  it('keeps a prefix pattern from reaching a longer literal', () => {
    const regex = globToRegExp(`${escapeGlob('a*')}:*`);
    expect(regex.test('a*:key')).toBe(true);
    expect(regex.test('ab:key')).toBe(false);
    expect(regex.test('a*b:key')).toBe(false);
  });
});
