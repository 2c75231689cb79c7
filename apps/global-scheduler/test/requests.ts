/** A conference request for tests: region eu, 1 participant, starting now, an hour long. */
import type { ConferenceRequest } from '../src/store/schedule-store.js';

export function conference(
  id: string,
  now: number,
  over: Partial<ConferenceRequest> = {},
): ConferenceRequest {
  return {
    id,
    region: 'eu',
    expectedParticipants: 1,
    startAt: now,
    durationS: 3600,
    createdAt: now,
    ...over,
  };
}
