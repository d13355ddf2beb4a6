import type { Principal } from './principal.js';
import type { ConnectionInfo } from './rpc/method.js';

/**
 * The seam between the language-server service and the raw LSP transport
 * (`WS /api/lsp/{languageId}`, one JSON-RPC message per text frame, the vscode-ws-jsonrpc
 * convention). The transport only parses and serialises frames; the service multiplexes every
 * raw client onto the one shared server per language and keeps documents consistent.
 */

/** One raw LSP client connection, as the transport hands it to the service. */
export interface LspPeer {
  readonly connection: ConnectionInfo;
  /** Who the client authenticated as: its document edits need `write` (FORBIDDEN otherwise). */
  readonly principal: Principal;
  /** Send one LSP message (a response, a notification or a server→client request) as one text frame. */
  send(message: object): void;
  /** Close the socket with a code and a reason (≤ 123 bytes of UTF-8). */
  close(code: number, reason: string): void;
}

/** The service side of one raw client. */
export interface LspChannel {
  /** One parsed JSON message from the client (not yet validated beyond being JSON). */
  receive(message: unknown): void;
  /** The socket closed: pending requests are cancelled, documents it opened released. */
  close(): void;
}

/** What the raw LSP transport needs from the service. */
export interface LspHosts {
  /**
   * Attach a raw client to the shared server of `languageId` (started on demand). Rejects with an
   * IcpyError: NOT_FOUND (no such language configured),
   * LSP_SERVER_UNAVAILABLE (binary missing: names the language and package), LIMIT_EXCEEDED.
   */
  attach(languageId: string, peer: LspPeer): Promise<LspChannel>;
}
