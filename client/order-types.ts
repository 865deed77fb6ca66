/**
 * What an order session hands to the application: typed messages, warnings and
 * events. Kept apart from order.ts so the session logic reads on its own.
 */
import type { ChainWarning, Role, VerifiedRoster } from '../crypto/index.ts';
import type { MessageBody, MessageKind } from './messages.ts';

export interface Sender {
  readonly deviceId: string;
  readonly userId: string;
  readonly role: Role;
}

interface ReceivedBase {
  readonly order: string;
  readonly seq: number;
  readonly epoch: number;
  readonly scope: string;
  readonly sender: Sender;
  /** True for this device's own messages coming back in sequence. */
  readonly self: boolean;
  /** Relay receive time (ms); informational, not authenticated. */
  readonly relayTime: number;
}

/** A decrypted, verified, schema-checked message; `kind` narrows `body`. */
export type ReceivedMessage = { [K in MessageKind]: ReceivedBase & { readonly kind: K; readonly body: MessageBody<K> } }[MessageKind];

/** Something the application must know but that is not a message: never silently dropped. */
export interface OrderWarning {
  readonly order: string;
  /** A crypto code (BAD_SIGNATURE, REPLAY, POLICY_DENIED…), CHAIN_GAP/CHAIN_REORDER/CHAIN_REPLAY/CHAIN_BREAK, or a client/relay code. */
  readonly code: string;
  readonly message: string;
  readonly seq?: number;
  readonly sender?: string;
}

export interface SendOptions {
  /** Override the default scope (e.g. a `text` into `commercial`). */
  readonly scope?: string;
}

export interface SentMessage {
  readonly clientMsgId: string;
  readonly scope: string;
  readonly epoch: number;
  /** Resolves with the order sequence number once the relay has stored the message (in this process). */
  readonly acked: Promise<number>;
}

export interface OrderEvents extends Record<string, unknown> {
  message: ReceivedMessage;
  warning: OrderWarning;
  /** A new roster epoch was accepted. */
  roster: VerifiedRoster;
  /**
   * This device is no longer a member: the session has stopped. `verified`: a signed
   * roster of `epoch` shows it; otherwise only the relay said so (MEMBER_REMOVED) and
   * withheld the new roster, as relays do for removed devices.
   */
  removed: { readonly epoch: number; readonly verified: boolean };
}


/** A crypto ChainTracker finding as an application warning. */
export function chainWarning(w: ChainWarning, seq: number): Omit<OrderWarning, 'order'> {
  switch (w.type) {
    case 'gap':
      return { code: 'CHAIN_GAP', seq, sender: w.sender, message: `messages ${w.expectedIndex}..${w.gotIndex - 1} of this sender's chain never arrived (dropped by the relay, or sent before this device joined)` };
    case 'reorder':
      return { code: 'CHAIN_REORDER', seq, sender: w.sender, message: `message ${w.index} of this sender arrived after message ${w.expectedIndex - 1}` };
    case 'replay':
      return { code: 'CHAIN_REPLAY', seq, sender: w.sender, message: `message ${w.index} of this sender was delivered twice` };
    case 'chain_break':
      return { code: 'CHAIN_BREAK', seq, sender: w.sender, message: `message ${w.index} does not link to its neighbours in this sender's chain` };
  }
}
