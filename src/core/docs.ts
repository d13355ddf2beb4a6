import type { ConnectionInfo } from './rpc/method.js';

/**
 * The seam between the documents service (which holds each live document as a Y.Doc) and the
 * transports that carry the y-websocket protocol (`WS /api/yjs/{path}`). The transport only
 * decodes and encodes y-protocols frames; every Yjs update and awareness update goes through a
 * DocRoom, so the service stays the one owner of the document.
 */

/** One connected Yjs client of a room, as the transport hands it to the service. */
export interface DocPeer {
  readonly connection: ConnectionInfo;
  /** Send a Yjs update (update v1 encoding) as a sync `update` message. */
  sendUpdate(update: Uint8Array): void;
  /** Send an awareness update (y-protocols awareness encoding). */
  sendAwareness(update: Uint8Array): void;
  /** Close this peer's socket (e.g. 4410 when the file was deleted). Reason ≤ 123 bytes of UTF-8. */
  close(code: number, reason: string): void;
}

/** One live document as a Yjs peer sees it. Methods are synchronous; errors are IcpyErrors. */
export interface DocRoom {
  /** Workspace-relative path of the file. */
  readonly path: string;
  /** State vector of the document (sent as sync step 1). */
  encodeStateVector(): Uint8Array;
  /** Everything the peer with this state vector lacks (sync step 2); the whole state without one. */
  encodeStateAsUpdate(stateVector?: Uint8Array): Uint8Array;
  /** Apply a peer's update (sync step 2 or update). Malformed bytes → IcpyError INVALID_PARAMS. */
  applyUpdate(update: Uint8Array, from: DocPeer): void;
  /** Apply a peer's awareness update; the client ids in it are remembered as that peer's. */
  applyAwareness(update: Uint8Array, from: DocPeer): void;
  /** Every awareness state the room knows (humans over Yjs and RPC clients), or undefined when none. */
  encodeAwareness(): Uint8Array | undefined;
  /** The peer left (its socket closed): its awareness states are removed; the room may unload. */
  leave(peer: DocPeer): void;
}

/** What the Yjs transport needs from the documents service. */
export interface DocRooms {
  /**
   * Join (creating when first) the live document of a workspace file. Rejects with an IcpyError:
   * PATH_OUTSIDE_WORKSPACE, FILE_NOT_FOUND, IS_A_DIRECTORY, NOT_A_FILE, NOT_TEXT, FILE_TOO_LARGE,
   * LIMIT_EXCEEDED (maxOpenDocs, maxDocsPerConnection), FORBIDDEN.
   */
  join(path: string, peer: DocPeer): Promise<DocRoom>;
}
