/** The fixtures JSON that loadtest/k6/fixtures.ts writes and the k6 scripts open(). */
export interface K6Device {
  deviceId: string;
  /** Resumption ticket from a real authentication (base64): k6 has no Ed25519, so it connects with tickets. */
  ticket: string;
  /** Device certificate (base64), for signed HTTP requests made elsewhere. */
  certificate: string;
}

export interface K6Order {
  orderId: string;
  publisher: K6Device;
  receivers: K6Device[];
  /** Envelopes sealed by the publisher, base64, in chain order. */
  envelopes: string[];
}

export interface K6Fixtures {
  relayUrl: string;
  httpUrl: string;
  authorityPublicKey: string;
  createdAt: string;
  orders: K6Order[];
}
