import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';
import { credentialSummarySchema } from './auth.methods.js';

/** Credential events never carry the token (nor its hash). */
export const authEvents = [
  defineEvent({
    topic: 'agents.token.created',
    description: 'An agent credential was created (never carries the token). Delivered to the owner only.',
    data: credentialSummarySchema,
    pathFree: true,
    ownerOnly: true,
  }),
  defineEvent({
    topic: 'agents.token.revoked',
    description: 'An agent credential stopped authenticating: revoked by the owner, or expired (reason). Its connections are being closed. Delivered to the owner only.',
    data: z.object({ id: z.string(), name: z.string(), reason: z.enum(['revoked', 'expired']) }),
    pathFree: true,
    ownerOnly: true,
  }),
];
