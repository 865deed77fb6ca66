/**
 * Named limits of the wire protocol. The relay checks each of them before it
 * allocates anything on behalf of a peer; the client checks them before it sends,
 * so a well-behaved client never meets the corresponding error.
 */

/** Wire protocol version spoken by this build. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/**
 * Largest WebSocket message either side accepts. An envelope carries at most
 * MAX_ENVELOPE_BYTES; the rest is frame overhead and batching. Photos and voice
 * notes travel as blobs (HTTP or chunked), never inline, so 256 KiB is generous
 * for chat and small enough that 1,000 slow sockets cannot pin much memory.
 */
export const MAX_FRAME_BYTES = 256 * 1024;

/**
 * Largest sealed envelope. Message bodies are padded to buckets (crypto/README.md);
 * 64 KiB of plaintext plus header, nonce, tag and signature fits with room to spare.
 */
export const MAX_ENVELOPE_BYTES = 96 * 1024;

/** Order, device, user and tenant ids: UTF-8, short enough to index cheaply. */
export const MAX_ID_BYTES = 128;

/**
 * clientMsgId: the sender's idempotency key. 64 bytes fits a UUID, a ULID or a
 * 32-byte random value in hex.
 */
export const MAX_CLIENT_MSG_ID_BYTES = 64;

/** Messages per `deliver` frame during replay: big enough to catch up fast, small enough to interleave with live traffic. */
export const MAX_DELIVER_BATCH = 256;

/** Key packages per `kp_put`: members × scopes of one order epoch; a roster of 32 devices and 2 scopes fits. */
export const MAX_KEY_PACKAGES_PER_PUT = 64;

/** Largest single key package (sealed 32-byte chain key + header + signature). */
export const MAX_KEY_PACKAGE_BYTES = 2048;

/** Largest signed roster: 64 members with certificates of ~300 bytes each. */
export const MAX_ROSTER_BYTES = 48 * 1024;

/** Largest device certificate. */
export const MAX_CERTIFICATE_BYTES = 2048;

/** Rosters returned by one `roster_get`: the whole chain of a long-lived order. */
export const MAX_ROSTERS_PER_GET = 256;

/** Blob data carried inside one WebSocket frame (thumbnails, short voice notes). Larger blobs go over HTTP. */
export const MAX_BLOB_FRAME_BYTES = 128 * 1024;

/** Largest blob (encrypted attachment) the relay stores: a phone photo or a minute of voice. */
export const MAX_BLOB_BYTES = 25 * 1024 * 1024;

/** Orders one connection may follow at once: a dispatcher's console watching a busy shift. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 1024;

/** Concurrent connections of one device: app in foreground plus a background reconnect that has not yet noticed the old socket died. */
export const MAX_CONNECTIONS_PER_DEVICE = 4;

/** Time a fresh socket has to finish authenticating before it is closed. */
export const AUTH_TIMEOUT_MS = 10_000;

/**
 * Seconds without any frame before the relay closes a socket. The client pings
 * every HEARTBEAT_INTERVAL_MS, so only a dead link meets this.
 */
export const IDLE_TIMEOUT_S = 60;

/** Client heartbeat: a dead link is noticed within two intervals. */
export const HEARTBEAT_INTERVAL_MS = 15_000;

/**
 * How long the relay remembers (device, clientMsgId) → seq. Phones retry late: a
 * courier out of coverage for a night must not duplicate a status update in the
 * morning, so this is hours, not minutes.
 */
export const DEDUP_WINDOW_MS = 48 * 60 * 60 * 1000;

/** Lifetime of a resumption ticket. Past it the device authenticates with its key again. */
export const TICKET_TTL_MS = 12 * 60 * 60 * 1000;

/** Length of the relay's authentication challenge nonce. */
export const CHALLENGE_BYTES = 32;

/** Upper bound on a request id so that it fits a MessagePack uint32 and a JS number exactly. */
export const MAX_REQUEST_ID = 0xffff_ffff;
