/**
 * HTTP/1.1 for guest programs, in one import: serveHttp (server.ts) and HttpClient/httpGet
 * (client.ts), with the message types and response helpers (message.ts).
 */
export { serveHttp, type HttpServerStats, type HttpService, type ServeOptions } from "./server.ts";
export {
  HttpClient,
  httpGet,
  parseHttpUrl,
  type HttpClientHost,
  type HttpClientOptions,
  type HttpClientResponse,
  type HttpClientStats,
  type HttpRequestInit,
} from "./client.ts";
export {
  HttpError,
  html,
  httpDate,
  json,
  text,
  type HttpHandler,
  type HttpHeaders,
  type HttpRequest,
  type HttpResponse,
} from "./message.ts";
export type { HttpClock } from "./clock.ts";
export { DEFAULT_LIMITS, type RequestLimits } from "./request-reader.ts";
