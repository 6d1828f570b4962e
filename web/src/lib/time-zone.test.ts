import { describe, expect, it } from 'vitest';
import { describeTimeZone, isoToZonedParts, zonedDateTimeToIso } from './time-zone.ts';

describe('zonedDateTimeToIso', () => {
  it.each([
    ['2027-01-15', '09:30', 'America/New_York', '2027-01-15T14:30:00.000Z'],
    ['2027-07-15', '09:30', 'America/New_York', '2027-07-15T13:30:00.000Z'],
    ['2026-12-03', '00:00', 'Asia/Tokyo', '2026-12-02T15:00:00.000Z'],
    ['2026-12-03', '09:00', 'Asia/Kolkata', '2026-12-03T03:30:00.000Z'],
    ['2026-12-03', '09:00', 'UTC', '2026-12-03T09:00:00.000Z'],
  ])('%s %s in %s is %s', (date, time, zone, expected) => {
    expect(zonedDateTimeToIso(date, time, zone)).toBe(expected);
  });

  it('moves a time skipped by the spring change past the jump', () => {
    // Paris skips 02:00-03:00 on 2026-03-29: 02:30 does not exist, 03:30 CEST does.
    expect(zonedDateTimeToIso('2026-03-29', '02:30', 'Europe/Paris')).toBe('2026-03-29T01:30:00.000Z');
  });

  it('takes the first of a time repeated by the autumn change', () => {
    // Paris repeats 02:00-03:00 on 2026-10-25: the first 02:30 is CEST (UTC+2).
    expect(zonedDateTimeToIso('2026-10-25', '02:30', 'Europe/Paris')).toBe('2026-10-25T00:30:00.000Z');
  });

  it('refuses malformed input', () => {
    expect(zonedDateTimeToIso('', '09:00', 'UTC')).toBeNull();
    expect(zonedDateTimeToIso('2026-12-03', '9am', 'UTC')).toBeNull();
  });
});

describe('isoToZonedParts', () => {
  it('gives the zone’s wall clock', () => {
    expect(isoToZonedParts('2027-01-15T14:30:00Z', 'America/New_York')).toEqual({
      date: '2027-01-15',
      time: '09:30',
    });
    expect(isoToZonedParts('2026-12-02T15:00:00Z', 'Asia/Tokyo')).toEqual({
      date: '2026-12-03',
      time: '00:00',
    });
  });

  it('round-trips with zonedDateTimeToIso', () => {
    const iso = '2026-08-20T18:45:00.000Z';
    const { date, time } = isoToZonedParts(iso, 'Australia/Sydney');
    expect(zonedDateTimeToIso(date, time, 'Australia/Sydney')).toBe(iso);
  });
});

it('names the zone with its offset', () => {
  expect(describeTimeZone('Asia/Tokyo', Date.parse('2026-12-03T00:00:00Z'))).toBe('Asia/Tokyo (GMT+9)');
});
