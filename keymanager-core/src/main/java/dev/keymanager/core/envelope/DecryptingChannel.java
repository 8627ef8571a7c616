package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.internal.KekLiveness;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;

/**
 * Random-access reads of a streaming payload: Tink's seekable channel with its failures sorted as
 * in {@link DecryptingStream}. The last segment is authenticated when the channel opens, so {@link
 * #size()} is trusted and truncation or appended bytes fail at open. Each read decrypts whole
 * segments (the one holding the current position is kept), so a small read costs at most two
 * segment decryptions. Methods are synchronized; position and read are separate calls, so callers
 * sharing one channel across threads must hold its lock across both.
 *
 * <p>Lives no longer than its KEK: each {@code read} first checks that the DEK's KEK version may
 * still be used ({@link KekLiveness}) and reads at most one segment's worth of bytes, so the check
 * runs at least once per segment. Once the check fails, the channel drops Tink's keyed state and
 * throws that exception from every later read, {@code position} and {@code size}; the ciphertext
 * channel stays open (and {@link #isOpen()} true) until {@link #close()}.
 */
final class DecryptingChannel implements SeekableByteChannel {
  private final SourceTracking.Channel source;
  private final KekRef kek;
  private final KekLiveness liveness;
  private final int chunk;
  private SeekableByteChannel tink; // null once closed or failed
  private boolean closed;

  private DecryptingChannel(
      SeekableByteChannel tink,
      SourceTracking.Channel source,
      KekRef kek,
      KekLiveness liveness,
      int chunk) {
    this.tink = tink;
    this.source = source;
    this.kek = kek;
    this.liveness = liveness;
    this.chunk = chunk;
  }

  /** Wraps Tink's channel and authenticates the last segment. */
  static DecryptingChannel open(
      SeekableByteChannel tink,
      SourceTracking.Channel source,
      KekRef kek,
      KekLiveness liveness,
      int chunk)
      throws IOException {
    DecryptingChannel c = new DecryptingChannel(tink, source, kek, liveness, chunk);
    try {
      // Reading at the end makes Tink decrypt the last segment, whose nonce carries the
      // last-segment flag: a truncated or extended payload fails here.
      ByteBuffer one = ByteBuffer.allocate(1);
      tink.position(tink.size());
      int idle = 0;
      while (c.readAt(one) != -1) {
        if (++idle > 1000) {
          throw new IOException("ciphertext channel returned no bytes 1000 times in a row");
        }
      }
      tink.position(0);
    } catch (IOException | RuntimeException e) {
      try {
        tink.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    return c;
  }

  /** Tink's channel; throws if closed, or the exception of the liveness check that failed it. */
  private SeekableByteChannel live() throws ClosedChannelException {
    if (closed) {
      throw new ClosedChannelException();
    }
    SeekableByteChannel t = tink;
    if (t == null) {
      liveness.check(); // failed before: throws the same way again
      throw new IllegalStateException("decrypting channel failed"); // not reached
    }
    return t;
  }

  /** Tink's channel, once the KEK is checked. */
  private SeekableByteChannel checked() throws ClosedChannelException {
    SeekableByteChannel t = live();
    try {
      liveness.check();
    } catch (RuntimeException e) {
      tink = null; // Tink's keyed state (the DEK, the derived key, the cipher) becomes garbage
      throw e;
    }
    return t;
  }

  @Override
  public synchronized int read(ByteBuffer dst) throws IOException {
    return readAt(dst);
  }

  private int readAt(ByteBuffer dst) throws IOException {
    SeekableByteChannel t = checked();
    long at = t.position();
    int limit = dst.limit();
    if (dst.remaining() > chunk) {
      dst.limit(dst.position() + chunk);
    }
    try {
      return t.read(dst);
    } catch (IOException e) {
      if (source.failed()) {
        throw e;
      }
      throw new InvalidCiphertextException(
          "Streaming payload under KEK "
              + kek
              + " failed authentication reading at plaintext offset "
              + at
              + ": a segment was altered, reordered or removed, or the file was truncated or"
              + " extended",
          e);
    } finally {
      dst.limit(limit);
    }
  }

  @Override
  public synchronized long position() throws IOException {
    return live().position();
  }

  /**
   * Moves the plaintext position; past {@link #size()} reads return -1.
   *
   * @throws IllegalArgumentException if negative
   */
  @Override
  public synchronized SeekableByteChannel position(long newPosition) throws IOException {
    if (newPosition < 0) {
      throw new IllegalArgumentException("negative position: " + newPosition);
    }
    live().position(newPosition);
    return this;
  }

  /** The plaintext size, authenticated when the channel opened. */
  @Override
  public synchronized long size() throws IOException {
    return live().size();
  }

  @Override
  public int write(ByteBuffer src) {
    throw new NonWritableChannelException();
  }

  @Override
  public SeekableByteChannel truncate(long size) {
    throw new NonWritableChannelException();
  }

  @Override
  public synchronized boolean isOpen() {
    return !closed;
  }

  /** Closes the ciphertext channel, also after a failure. Idempotent. */
  @Override
  public synchronized void close() throws IOException {
    if (!closed) {
      closed = true;
      tink = null;
      source.close();
    }
  }

  @Override
  public synchronized String toString() {
    return "DecryptingChannel["
        + kek
        + ", "
        + (closed ? "closed" : tink == null ? "failed" : "open")
        + "]";
  }
}
