package dev.keymanager.core.envelope;

import dev.keymanager.internal.KekLiveness;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.WritableByteChannel;

/**
 * The encrypting stream and channel handed to callers: thin wrappers over Tink's that drop the
 * reference to Tink's keyed state when closed, so the caller keeping the wrapper does not keep the
 * key copies reachable.
 *
 * <p>They live no longer than their KEK: each write (in pieces of at most one segment, so at least
 * once per segment) and the {@code close()} that encrypts the last segment first check that the
 * DEK's KEK version may still be used ({@link KekLiveness}). Once the check fails, Tink's keyed
 * state is dropped, nothing more is encrypted, and every later write throws the same exception; the
 * payload is left without its last segment, so it reads as truncated. The ciphertext stream or
 * channel stays open until {@code close()}, which then only closes it.
 */
final class EncryptingStreams {
  private EncryptingStreams() {}

  /** What both wrappers share: Tink's side, the caller's ciphertext sink, the check. */
  private abstract static class Handle<T extends Closeable> {
    private final Closeable ciphertext;
    private final KekLiveness liveness;
    final int chunk;
    private T tink; // null once closed or failed
    private boolean closed;

    Handle(T tink, Closeable ciphertext, KekLiveness liveness, int chunk) {
      this.tink = tink;
      this.ciphertext = ciphertext;
      this.liveness = liveness;
      this.chunk = chunk;
    }

    /** Tink's side once the KEK is checked; throws if closed or failed. */
    final T live() throws IOException {
      if (closed) {
        throw closedException();
      }
      T t = tink;
      try {
        liveness.check(); // throws again if it failed before
      } catch (RuntimeException e) {
        tink = null; // Tink's keyed state (the DEK, the derived key, the cipher) becomes garbage
        throw e;
      }
      if (t == null) {
        throw new IllegalStateException("encrypting handle failed"); // not reached
      }
      return t;
    }

    abstract IOException closedException();

    final boolean isClosed() {
      return closed;
    }

    /**
     * Encrypts the last segment, writes it and closes the ciphertext; if the KEK may no longer be
     * used, only closes the ciphertext and throws. Idempotent.
     */
    final void closeHandle() throws IOException {
      if (closed) {
        return;
      }
      T t = tink;
      RuntimeException failed = null;
      if (t != null) {
        try {
          liveness.check();
        } catch (RuntimeException e) {
          failed = e;
          t = null;
        }
      }
      closed = true;
      tink = null;
      if (t != null) {
        t.close(); // Tink writes the last segment and closes the ciphertext
        return;
      }
      ciphertext.close();
      if (failed != null) {
        throw failed;
      }
    }

    final String state() {
      return closed ? "closed" : tink == null ? "failed" : "open";
    }
  }

  static final class Stream extends OutputStream {
    private final Handle<OutputStream> handle;

    Stream(OutputStream tink, OutputStream ciphertext, KekLiveness liveness, int chunk) {
      this.handle =
          new Handle<>(tink, ciphertext, liveness, chunk) {
            @Override
            IOException closedException() {
              return new IOException("encrypting stream is closed");
            }
          };
    }

    @Override
    public void write(int b) throws IOException {
      handle.live().write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      java.util.Objects.checkFromIndexSize(off, len, b.length);
      do {
        int n = Math.min(len, handle.chunk);
        handle.live().write(b, off, n);
        off += n;
        len -= n;
      } while (len > 0);
    }

    @Override
    public void flush() throws IOException {
      handle.live().flush();
    }

    /** Encrypts the last segment, writes it and closes the ciphertext stream. Idempotent. */
    @Override
    public void close() throws IOException {
      handle.closeHandle();
    }

    @Override
    public String toString() {
      return "EncryptingStream[" + handle.state() + "]";
    }
  }

  static final class Channel implements WritableByteChannel {
    private final Handle<WritableByteChannel> handle;

    Channel(
        WritableByteChannel tink, WritableByteChannel ciphertext, KekLiveness liveness, int chunk) {
      this.handle =
          new Handle<>(tink, ciphertext, liveness, chunk) {
            @Override
            IOException closedException() {
              return new ClosedChannelException();
            }
          };
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      int written = 0;
      do {
        WritableByteChannel t = handle.live();
        int limit = src.limit();
        if (src.remaining() > handle.chunk) {
          src.limit(src.position() + handle.chunk);
        }
        int n;
        try {
          n = t.write(src);
        } finally {
          src.limit(limit);
        }
        written += n;
        if (n == 0) {
          break; // the caller's loop decides; a blocking channel takes every byte
        }
      } while (src.hasRemaining());
      return written;
    }

    @Override
    public boolean isOpen() {
      return !handle.isClosed();
    }

    /** Encrypts the last segment, writes it and closes the ciphertext channel. Idempotent. */
    @Override
    public void close() throws IOException {
      handle.closeHandle();
    }

    @Override
    public String toString() {
      return "EncryptingChannel[" + handle.state() + "]";
    }
  }

  /** Writes all of {@code b} to a blocking channel. */
  static void writeFully(WritableByteChannel channel, ByteBuffer b) throws IOException {
    int idle = 0;
    while (b.hasRemaining()) {
      if (channel.write(b) == 0 && ++idle > 1000) {
        throw new IOException(
            "ciphertext channel accepted no bytes 1000 times in a row; a blocking channel is"
                + " required");
      }
    }
  }
}
