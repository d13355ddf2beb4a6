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
export {
  DEFAULT_PATTERN_LIMITS,
  assertPattern,
  assertPatterns,
  assertTopic,
  compilePattern,
  isWildcard,
  topicMatches,
  type PatternLimits,
} from './topic-pattern.js';
export { LazyEventData, eventData } from './lazy-event-data.js';
export { DEFAULT_EVENT_LIMITS, encodeEvent, encodeEventNotification, type EventLimits } from './event-encoding.js';
