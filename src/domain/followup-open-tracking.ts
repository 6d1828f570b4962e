/**
 * Open tracking, pure: which loads of a message's pixel count as an open (README: Follow-ups, open tracking).
 *
 * A load is recorded every time; it counts as an open unless:
 * 1. it comes within the grace period after sending (the sender's own client showing the sent copy, link and
 *    attachment scanners on the way, and delivery-time prefetching all happen in the first seconds);
 * 2. it comes from Apple Mail Privacy Protection, which loads every image of every message on delivery whether
 *    or not anyone reads it: Apple's network (17.0.0.0/8 and its IPv6 ranges) or the bare `Mozilla/5.0` agent;
 * 3. it comes from a security scanner or an automated client (known names, or no user agent at all).
 * Google's image proxy (`GoogleImageProxy`) loads the image when the message is displayed in Gmail, so once the
 * grace period is over its load counts as an open; its prefetches at delivery fall inside the grace period.
 * A message is opened once it has one counted open; a thread's open rate is the share of its tracked messages
 * that were opened, as a percentage.
 */
export type OpenExclusion = 'too_soon' | 'privacy_proxy' | 'scanner' | 'no_user_agent';

export interface PixelLoad {
  at: Date;
  sentAt: Date;
  ip: string | null;
  userAgent: string | null;
}

export type OpenVerdict = { counted: true } | { counted: false; reason: OpenExclusion };

const SCANNERS =
  /(bot\b|crawler|spider|scanner|barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro|fortinet|sophos|forcepoint|cisco|ironport|zscaler|curl\/|wget\/|python-|go-http-client|java\/|okhttp|headless|phantomjs|libwww|httpclient|axios\/|node-fetch|undici)/i;

/** Apple's IPv6 ranges used by its relays (2620:149::/32, 2a01:b740::/32) and its own 17.0.0.0/8. */
function isAppleNetwork(ip: string): boolean {
  const lower = ip.trim().toLowerCase();
  const v4 = lower.startsWith('::ffff:') ? lower.slice(7) : lower;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v4)) return v4.split('.')[0] === '17';
  return lower.startsWith('2620:149:') || lower.startsWith('2a01:b740:');
}

export function classifyPixelLoad(load: PixelLoad, graceSeconds: number): OpenVerdict {
  if (load.at.getTime() - load.sentAt.getTime() < graceSeconds * 1000)
    return { counted: false, reason: 'too_soon' };
  const agent = load.userAgent?.trim() ?? '';
  if (agent === '') return { counted: false, reason: 'no_user_agent' };
  if (agent === 'Mozilla/5.0' || (load.ip !== null && isAppleNetwork(load.ip))) {
    return { counted: false, reason: 'privacy_proxy' };
  }
  if (SCANNERS.test(agent) && !/GoogleImageProxy/i.test(agent)) return { counted: false, reason: 'scanner' };
  return { counted: true };
}

/** Percentage (two decimals) of tracked messages opened, or null without tracked messages. */
export function openRatePercent(tracked: number, opened: number): number | null {
  if (tracked <= 0) return null;
  return Math.round((Math.min(opened, tracked) / tracked) * 10_000) / 100;
}
