// Wall-clock time in a named zone <-> instants. The follow-up picker shows the user's zone; the API takes UTC.
// Converting through Intl (not the browser's local zone) keeps it right for any zone and across DST changes.

export function userTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function partsInZone(instant: number, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

/** Offset of the zone from UTC at an instant, in ms (positive east of Greenwich). */
export function zoneOffsetMs(instant: number, timeZone: string): number {
  const p = partsInZone(instant, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2})$/;

/**
 * The instant (ISO, UTC) at which the zone's clock shows `date` `time`. A time skipped by a DST change resolves
 * to the same wall time after the jump; a repeated time resolves to its first occurrence.
 */
export function zonedDateTimeToIso(date: string, time: string, timeZone: string): string | null {
  const d = DATE.exec(date);
  const t = TIME.exec(time);
  if (!d || !t) return null;
  const wall = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(t[1]), Number(t[2]));
  if (Number.isNaN(wall)) return null;
  // The offsets in force a day either side cover every DST rule; at most two differ.
  const offsets = [
    ...new Set([zoneOffsetMs(wall - 86_400_000, timeZone), zoneOffsetMs(wall + 86_400_000, timeZone)]),
  ];
  const exact = offsets
    .map((offset) => wall - offset)
    .filter((at) => zoneOffsetMs(at, timeZone) === wall - at);
  const instant = exact.length > 0 ? Math.min(...exact) : wall - Math.min(...offsets);
  return new Date(instant).toISOString();
}

/** The zone's calendar date and time (YYYY-MM-DD, HH:MM) at an instant. */
export function isoToZonedParts(iso: string | number, timeZone: string): { date: string; time: string } {
  const instant = typeof iso === 'number' ? iso : Date.parse(iso);
  const p = partsInZone(instant, timeZone);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return {
    date: `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`,
    time: `${pad(p.hour)}:${pad(p.minute)}`,
  };
}

/** A short readable name of the zone, e.g. "Europe/Paris (GMT+1)". */
export function describeTimeZone(timeZone: string, at = Date.now()): string {
  try {
    const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'shortOffset' })
      .formatToParts(new Date(at))
      .find((p) => p.type === 'timeZoneName')?.value;
    return name ? `${timeZone} (${name})` : timeZone;
  } catch {
    return timeZone;
  }
}
