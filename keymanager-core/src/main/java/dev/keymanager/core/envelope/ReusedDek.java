package dev.keymanager.core.envelope;

import dev.keymanager.KekRef;
import dev.keymanager.internal.KekLiveness;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One DEK that {@link DekReuse} keeps for more than one payload, shared by every thread of its
 * cipher: its own copy of the key bytes, the liveness check of the data key it came from, what it
 * is bound to (KEK version, context, wrapped DEK) and, for encryption, the counters that bound it.
 *
 * <p>Reference counted as core's KEK entries are: the slot holding it is one holder, each payload
 * in flight another; retiring it drops the slot's hold, and the last holder overwrites the bytes,
 * so no payload ever runs on zeroed bytes.
 *
 * <p>Nonces: payload {@code i} (counted from 0) of an encrypting DEK uses the random nonce drawn
 * with its header XOR {@code i} in the low 64 bits, so two payloads of one DEK never share a nonce
 * and the first payload of each DEK has a random one.
 */
final class ReusedDek {
  private final byte[] key; // owned; overwritten by the last holder
  private final KekLiveness liveness;
  private final KekRef kek;
  private final byte[] context; // the canonical context encoding it is bound to (not owned)
  private final byte[] header; // encrypting: the one-shot header template; decrypting: null
  private final byte[] wrapped; // decrypting: the wrapped DEK encoding it was unwrapped from
  private final long born; // ticker nanos
  private final long maxPayloads;
  private final long maxBytes;
  private final AtomicLong payloads = new AtomicLong();
  private final AtomicLong bytes = new AtomicLong();
  private final AtomicInteger holders = new AtomicInteger(1);
  private volatile boolean retired;

  private ReusedDek(
      byte[] key,
      KekLiveness liveness,
      KekRef kek,
      byte[] context,
      byte[] header,
      byte[] wrapped,
      long born,
      long maxPayloads,
      long maxBytes) {
    this.key = key;
    this.liveness = liveness;
    this.kek = kek;
    this.context = context;
    this.header = header;
    this.wrapped = wrapped;
    this.born = born;
    this.maxPayloads = maxPayloads;
    this.maxBytes = maxBytes;
  }

  /** A DEK to encrypt with: {@code header} is its one-shot header with the random base nonce. */
  static ReusedDek encrypting(
      byte[] ownedKey,
      KekLiveness liveness,
      KekRef kek,
      byte[] context,
      byte[] header,
      long born,
      long maxPayloads,
      long maxBytes) {
    return new ReusedDek(
        ownedKey, liveness, kek, context, header, null, born, maxPayloads, maxBytes);
  }

  /** A DEK unwrapped from {@code wrapped} under {@code context}, to decrypt with. */
  static ReusedDek decrypting(
      byte[] ownedKey,
      KekLiveness liveness,
      KekRef kek,
      byte[] context,
      byte[] wrapped,
      long born) {
    return new ReusedDek(ownedKey, liveness, kek, context, null, wrapped, born, 0, 0);
  }

  KekRef kek() {
    return kek;
  }

  long born() {
    return born;
  }

  boolean boundTo(byte[] contextEncoding) {
    return context == contextEncoding || Arrays.equals(context, contextEncoding);
  }

  /** Whether this DEK was unwrapped from the wrapped DEK at {@code b[from, to)}. */
  boolean unwrappedFrom(byte[] b, int from, int to) {
    return Arrays.equals(wrapped, 0, wrapped.length, b, from, to);
  }

  /** The last 4 bytes of a wrapped DEK (its GCM tag, so uniform): where it sits in a table. */
  static int hash(byte[] b, int to) {
    return (b[to - 1] & 0xFF)
        | (b[to - 2] & 0xFF) << 8
        | (b[to - 3] & 0xFF) << 16
        | (b[to - 4] & 0xFF) << 24;
  }

  int wrappedHash() {
    return hash(wrapped, wrapped.length);
  }

  byte[] header() {
    return header;
  }

  /**
   * Reserves the next payload of {@code length} plaintext bytes: its number, from 0, or -1 if this
   * DEK has taken its last payload (by count or bytes). The first payload is always accepted,
   * whatever its length; a refusal may burn a number, never reuse one.
   */
  long reserve(long length) {
    long n = payloads.getAndIncrement();
    if (n >= maxPayloads || n < 0) {
      payloads.set(Long.MAX_VALUE); // stays refused; never wraps around to reuse a number
      return -1;
    }
    long total = bytes.addAndGet(length);
    if (n > 0 && (total > maxBytes || total < 0)) {
      bytes.set(Long.MAX_VALUE);
      payloads.set(Long.MAX_VALUE);
      return -1;
    }
    return n;
  }

  /** Whether {@link #reserve} can never succeed again: full by count or bytes. */
  boolean isFull() {
    return payloads.get() >= maxPayloads || bytes.get() > maxBytes;
  }

  boolean isRetired() {
    return retired;
  }

  /** Adds a holder; false if the bytes are already gone (or going). */
  boolean retain() {
    for (int n = holders.get(); n > 0; n = holders.get()) {
      if (holders.compareAndSet(n, n + 1)) {
        return true;
      }
    }
    return false;
  }

  /** Drops a holder; the last one overwrites the key. */
  void release() {
    if (holders.decrementAndGet() == 0) {
      Arrays.fill(key, (byte) 0);
    }
  }

  /** Drops the slot's hold, once: no new payload will use this DEK. */
  void retire() {
    if (!retired) {
      synchronized (this) {
        if (retired) {
          return;
        }
        retired = true;
      }
      release();
    }
  }

  /**
   * Checks that the KEK version may still be used, as any handle on a DEK does; retires this DEK
   * and rethrows if it may not. The caller holds it.
   */
  void checkLive() {
    try {
      liveness.check();
    } catch (RuntimeException e) {
      retire();
      throw e;
    }
  }

  /** The key bytes, for a holder, for the length of one payload. */
  byte[] key() {
    return key;
  }

  @Override
  public String toString() {
    return "ReusedDek[" + kek + ", " + payloads.get() + " payloads, redacted]";
  }
}
