export type {
  Broker,
  BrokerEvent,
  BrokerStats,
  ClientKind,
  EventHandler,
  EventSource,
  LagInfo,
  RequestHandler,
  SubscribeOptions,
  Subscription,
} from './broker.js';
export { SYSTEM_SOURCE, clientKindOf, clientNameOf } from './broker.js';
export { MemoryBroker, type MemoryBrokerOptions } from './memory-broker.js';
export { EventHistory, approxSize } from './event-history.js';
export { assertPattern, assertTopic, compilePattern, isWildcard, topicMatches } from './topic-pattern.js';
export { encodeEvent, encodeEventNotification } from './event-encoding.js';
