/** The agent's error table (stable codes, each in the README). */
import { SwitchyardError } from '@switchyard/core';

export const AgentErrors = {
  AGENT_ERR_CONFIG: 'an option of the agent is missing or invalid (id, address, capacity, load, timers)',
  AGENT_ERR_STATE: 'start() was called on an agent that is already started',
} as const;
export type AgentErrorCode = keyof typeof AgentErrors;

export class AgentError extends SwitchyardError<AgentErrorCode> {}
