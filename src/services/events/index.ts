export { createEventsMethods, eventSchema, DEFAULT_SUBSCRIPTION_QUEUE } from './events.methods.js';
export { eventsLagged } from './events.events.js';
export { createEventsOperations } from './events.operations.js';
