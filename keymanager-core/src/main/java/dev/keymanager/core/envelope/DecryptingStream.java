package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.internal.KekLiveness;
import java.io.IOException;
import java.io.InputStream;

/**
 * The decrypting stream handed to callers: Tink's, with its failures sorted. A failure of the
 * ciphertext source stays an {@link IOException}; a segment that does not authenticate (altered,
 * reordered, truncated, extended) becomes an {@link InvalidCiphertextException}. Bytes are returned
 * only from segments that authenticated.
 *
 * <p>Lives no longer than its KEK: each {@code read} first checks that the DEK's KEK version may
 * still be used ({@link KekLiveness}), and returns at most one segment's worth of bytes, so the
 * check runs at least once per segment. Once the check fails, the stream drops Tink's keyed state
 * and throws that exception from every later read; the ciphertext stream stays open until {@link
 * #close()}. Drops Tink's keyed state when closed, too.
 */
final class DecryptingStream extends InputStream {
  private final SourceTracking.Stream source;
  private final KekRef kek;
  private final KekLiveness liveness;
  private final int chunk;
  private InputStream tink; // null once closed or failed
  private boolean closed;

  DecryptingStream(
      InputStream tink, SourceTracking.Stream source, KekRef kek, KekLiveness liveness, int chunk) {
    this.tink = tink;
    this.source = source;
    this.kek = kek;
    this.liveness = liveness;
    this.chunk = chunk;
  }

  /** Tink's stream, once the KEK is checked; throws if closed or failed. */
  private InputStream live() throws IOException {
    if (closed) {
      throw new IOException("decrypting stream is closed");
    }
    InputStream t = tink;
    try {
      liveness.check(); // throws again if it failed before
    } catch (RuntimeException e) {
      tink = null; // Tink's keyed state (the DEK, the derived key, the cipher) becomes garbage
      throw e;
    }
    if (t == null) {
      throw new IllegalStateException("decrypting stream failed"); // not reached
    }
    return t;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n == 1 ? one[0] & 0xFF : -1;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    java.util.Objects.checkFromIndexSize(off, len, b.length);
    if (len == 0) {
      return 0;
    }
    InputStream t = live();
    try {
      return t.read(b, off, Math.min(len, chunk));
    } catch (IOException e) {
      throw sorted(e);
    }
  }

  @Override
  public int available() throws IOException {
    return live().available();
  }

  private IOException sorted(IOException e) {
    if (source.failed()) {
      return e;
    }
    throw new InvalidCiphertextException(
        "Streaming payload under KEK "
            + kek
            + " failed authentication: a segment was altered, reordered or removed, or the"
            + " payload was truncated or extended",
        e);
  }

  /** Closes the ciphertext stream, also after a failure. Idempotent. */
  @Override
  public void close() throws IOException {
    if (!closed) {
      closed = true;
      tink = null;
      source.close();
    }
  }

  @Override
  public String toString() {
    return "DecryptingStream["
        + kek
        + ", "
        + (closed ? "closed" : tink == null ? "failed" : "open")
        + "]";
  }
}
