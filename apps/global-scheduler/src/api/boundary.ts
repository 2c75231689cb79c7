/**
 * The API's edge, where HTTP-level errors enter: fastify's own error codes and Node's HTTP parser errors are
 * translated into the scheduler's table by code (never by message), and JSON bodies are parsed here so that a
 * forbidden key (`__proto__`, `constructor.prototype`) is named as what it is rather than "invalid JSON".
 */
import type { Socket } from 'node:net';
import { SchedulerError, SchedulerErrorTable, type SchedulerErrorCode } from '../errors.js';

/** fastify error code → ours. */
export const FASTIFY_CODES: Readonly<Record<string, SchedulerErrorCode>> = {
  FST_ERR_BAD_URL: 'SCH_ERR_BAD_REQUEST',
  FST_ERR_INVALID_URL: 'SCH_ERR_BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'SCH_ERR_URI_TOO_LONG',
  FST_ERR_ASYNC_CONSTRAINT: 'SCH_ERR_INTERNAL',
  FST_ERR_CTP_BODY_TOO_LARGE: 'SCH_ERR_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SCH_ERR_UNSUPPORTED_MEDIA',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SCH_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'SCH_ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'SCH_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_TYPE: 'SCH_ERR_UNSUPPORTED_MEDIA',
  FST_ERR_CTP_INVALID_TYPE: 'SCH_ERR_UNSUPPORTED_MEDIA',
};

/** Node HTTP parser error code (llhttp) → ours; any other parser error is a bad request. */
const PARSER_CODES: Readonly<Record<string, SchedulerErrorCode>> = {
  HPE_HEADER_OVERFLOW: 'SCH_ERR_HEADERS_TOO_LARGE',
  HPE_URI_TOO_LONG: 'SCH_ERR_URI_TOO_LONG',
};

/**
 * Node answers malformed requests itself, before fastify sees them (431 for oversized headers, 400 otherwise):
 * this writes that answer in our format instead. A timeout or reset socket just closes.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code = PARSER_CODES[err.code ?? ''] ?? 'SCH_ERR_BAD_REQUEST';
  const { status, message } = SchedulerErrorTable[code];
  const body = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${status} ${code}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** JSON.parse that refuses prototype keys with a 400 naming them; a syntax error is a 400 too. */
export function parseJsonBody(text: string): unknown {
  let forbidden: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text, function (this: unknown, key, v: unknown) {
      if (key === '__proto__' || (key === 'prototype' && this !== null && typeof this === 'object'))
        forbidden ??= key;
      return v;
    });
  } catch (err) {
    throw new SchedulerError('SCH_ERR_BAD_REQUEST', `body is not valid JSON: ${(err as Error).message}`, {
      details: { field: 'body' },
    });
  }
  if (forbidden !== undefined)
    throw new SchedulerError('SCH_ERR_BAD_REQUEST', `body: the key ${forbidden} is not allowed`, {
      details: { field: `body.${forbidden}` },
    });
  return value;
}
