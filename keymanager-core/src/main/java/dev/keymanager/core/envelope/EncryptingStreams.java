package dev.keymanager.core.envelope;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.WritableByteChannel;

/**
 * The encrypting stream and channel handed to callers: thin wrappers over Tink's that drop the
 * reference to Tink's keyed state when closed, so the caller keeping the wrapper does not keep the
 * key copies reachable.
 */
final class EncryptingStreams {
  private EncryptingStreams() {}

  static final class Stream extends OutputStream {
    private OutputStream tink; // null once closed

    Stream(OutputStream tink) {
      this.tink = tink;
    }

    private OutputStream open() throws IOException {
      OutputStream t = tink;
      if (t == null) {
        throw new IOException("encrypting stream is closed");
      }
      return t;
    }

    @Override
    public void write(int b) throws IOException {
      open().write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      open().write(b, off, len);
    }

    @Override
    public void flush() throws IOException {
      open().flush();
    }

    /** Encrypts the last segment, writes it and closes the ciphertext stream. Idempotent. */
    @Override
    public void close() throws IOException {
      OutputStream t = tink;
      if (t != null) {
        tink = null;
        t.close();
      }
    }

    @Override
    public String toString() {
      return "EncryptingStream[" + (tink == null ? "closed" : "open") + "]";
    }
  }

  static final class Channel implements WritableByteChannel {
    private WritableByteChannel tink; // null once closed

    Channel(WritableByteChannel tink) {
      this.tink = tink;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      WritableByteChannel t = tink;
      if (t == null) {
        throw new ClosedChannelException();
      }
      return t.write(src);
    }

    @Override
    public boolean isOpen() {
      return tink != null;
    }

    /** Encrypts the last segment, writes it and closes the ciphertext channel. Idempotent. */
    @Override
    public void close() throws IOException {
      WritableByteChannel t = tink;
      if (t != null) {
        tink = null;
        t.close();
      }
    }

    @Override
    public String toString() {
      return "EncryptingChannel[" + (tink == null ? "closed" : "open") + "]";
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
