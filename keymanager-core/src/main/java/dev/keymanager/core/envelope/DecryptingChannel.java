package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
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
 */
final class DecryptingChannel implements SeekableByteChannel {
  private final SourceTracking.Channel source;
  private final KekRef kek;
  private SeekableByteChannel tink; // null once closed

  private DecryptingChannel(SeekableByteChannel tink, SourceTracking.Channel source, KekRef kek) {
    this.tink = tink;
    this.source = source;
    this.kek = kek;
  }

  /** Wraps Tink's channel and authenticates the last segment. */
  static DecryptingChannel open(SeekableByteChannel tink, SourceTracking.Channel source, KekRef kek)
      throws IOException {
    DecryptingChannel c = new DecryptingChannel(tink, source, kek);
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

  private SeekableByteChannel live() throws ClosedChannelException {
    SeekableByteChannel t = tink;
    if (t == null) {
      throw new ClosedChannelException();
    }
    return t;
  }

  @Override
  public synchronized int read(ByteBuffer dst) throws IOException {
    return readAt(dst);
  }

  private int readAt(ByteBuffer dst) throws IOException {
    SeekableByteChannel t = live();
    long at = t.position();
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
    return tink != null;
  }

  /** Closes the ciphertext channel. Idempotent. */
  @Override
  public synchronized void close() throws IOException {
    SeekableByteChannel t = tink;
    if (t != null) {
      tink = null;
      t.close();
    }
  }

  @Override
  public String toString() {
    return "DecryptingChannel[" + kek + ", " + (tink == null ? "closed" : "open") + "]";
  }
}
